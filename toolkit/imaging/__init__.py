"""Image processing: checking uploads, making masters, rendering share-ready images.

Plain Python on Pillow, free of web concerns: upload checks (inspect), the per-upload master and
thumbnails (master), network sizes (presets) and share images with logo and headline (render).
"""
