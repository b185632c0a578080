"""resilient-rds as a Pulumi component package: serves ResilientPostgres to programs in any Pulumi language.

The CLI runs this file as ``python <this directory> <engine address> [flags]`` (the Python language
host's RunPlugin), in the plugin's own virtualenv, with the *consumer's* working directory.  The
provider prints the port of its gRPC server on stdout; the CLI then calls GetSchema (to generate
SDKs) and Construct (to build the component in the consumer's stack).  The schema is inferred from
the annotations of ResilientPostgres and components/args.py, which come from components/settings.py.
"""

import sys
import tomllib
from pathlib import Path

# The package lives one directory up (a git `pulumi package add` clones the whole repository), and the
# working directory is the consumer's, not ours: put the repository root first on the import path.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components.resilient_postgres import TYPE_TOKEN, ResilientPostgres  # noqa: E402

#: "resilient-rds": the package part of the component's type token.
PACKAGE_NAME = TYPE_TOKEN.split(":", 1)[0]


def package_version() -> str:
    """The distribution's version (pyproject.toml): the generated SDKs carry it."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as pyproject:
        version: str = tomllib.load(pyproject)["project"]["version"]
    return version


if __name__ == "__main__":
    component_provider_host([ResilientPostgres], name=PACKAGE_NAME, version=package_version())
