"""Embedded stand-ins for the upstream APIs, served over real HTTP on loopback.

`build_adict_app(AdictSandboxConfig(...))` is GRDF ADICT v2; `SandboxServer` runs any
of them with uvicorn in a thread. `sandbox.adict_data` holds the data rules and the
ground truth that tests compare a pipeline's output with.
"""

from sandbox.adict_app import AdictSandboxConfig, build_adict_app
from sandbox.server import SandboxServer

__all__ = ["AdictSandboxConfig", "SandboxServer", "build_adict_app"]
