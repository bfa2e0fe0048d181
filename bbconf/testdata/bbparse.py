# Parses conf files with a real BitBake checkout (BITBAKE_DIR) the way
# cooker does: ConfHandler.handle. Used by TestRealBitbakeParsesGolden.
import sys, os
sys.path.insert(0, os.path.join(os.environ["BITBAKE_DIR"], "lib"))
import bb.data, bb.parse, bb.utils
import bb.parse.parse_py.ConfHandler
failed = 0
for fn in sys.argv[1:]:
    d = bb.data.init()
    d.setVar("TOPDIR", "/srv/xtbuild/build")
    try:
        bb.parse.parse_py.ConfHandler.handle(os.path.abspath(fn), d, 0)
        print("ok", fn, d.getVar("BBLAYERS") is not None or d.getVar("TMPDIR"))
    except Exception as e:
        failed += 1
        print("FAIL", fn, e)
sys.exit(1 if failed else 0)
