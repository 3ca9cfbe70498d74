# Ambassador Toolkit: one image, any number of identical instances against one bucket.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY toolkit ./toolkit
COPY templates ./templates
COPY assets ./assets
RUN pip install . && rm -rf /app/*

RUN useradd --create-home --uid 10001 toolkit
USER toolkit
WORKDIR /home/toolkit

# Point TOOLKIT_STORE at s3://bucket/prefix in production; the default folder is for trying it out.
ENV TOOLKIT_STORE=/home/toolkit/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health')"
CMD ["python", "-m", "toolkit", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
