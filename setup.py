"""Package discovery for the wheel and the sdist; the metadata lives in pyproject.toml.

runtime_stub/ (the runtime vendored into every dist) and templates/ sit at the top of the
repository but ship inside the compiler as aetherflow_compiler._runtime and
aetherflow_compiler._templates. pyproject.toml's `packages.find` cannot give a folder
another name, so the packages are found here: every folder with an __init__.py below
the three roots, none listed by hand. Package data is every other file in them
(pyproject.toml), so a new module or data file cannot be left out of the wheel.
"""

from setuptools import find_packages, setup

ROOTS = {
    "aetherflow_compiler": "aetherflow_compiler",
    "aetherflow_compiler._runtime": "runtime_stub",
    "aetherflow_compiler._templates": "templates",
}

packages = []
for name, folder in ROOTS.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_packages(folder))]

setup(packages=sorted(packages), package_dir={k: v for k, v in ROOTS.items() if k != v})
