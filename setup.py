"""Build hook for the native data path (sswctl._datapath).

Package metadata lives in setup.cfg. The extension is the userspace
backend's only data plane, but the build is optional: if it fails (no
compiler, no Python or OpenSSL headers), installation still succeeds, so
the CLI and the kernel backend work, sswctl.datapath.native is None and
``sswctl daemon`` refuses to serve a userspace interface with a message
naming the build dependencies (sswctl.datapath.NOT_BUILT).
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sswctl._datapath",
            sources=sorted(glob("sswctl/_datapath/*.c")),
            depends=glob("sswctl/_datapath/*.h"),
            libraries=["crypto"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
            optional=True,
        )
    ]
)
