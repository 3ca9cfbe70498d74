"""Packaging glue that pyproject.toml cannot express alone.

templates/ and assets/ sit at the top of the repository, where people look for them, but must
ship inside the wheel so that a plain `pip install .` runs without the source tree.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["toolkit", "toolkit.*"]) + ["toolkit.templates", "toolkit.assets"],
    package_dir={"toolkit.templates": "templates", "toolkit.assets": "assets"},
    package_data={
        "toolkit": ["py.typed", "locale/*/LC_MESSAGES/*.po"],
        "toolkit.templates": ["**/*"],
        "toolkit.assets": ["**/*"],
    },
)
