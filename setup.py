"""Build hook for the optional native data path (sswctl._datapath).

Package metadata lives in setup.cfg. The extension is optional: if it does
not build (no compiler, no OpenSSL headers), installation still succeeds and
sswctl.datapath.native is None, so the daemon keeps its pure-Python path.
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sswctl._datapath",
            sources=sorted(glob("sswctl/_datapath/*.c")),
            # wire.h: the wire constants both data planes include (tools/gen_genl.py)
            depends=glob("sswctl/_datapath/*.h") + ["secureswift_kmod/wire.h"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
            optional=True,
        )
    ]
)
