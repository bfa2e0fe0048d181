# Prints the premirror URLs real BitBake (BITBAKE_DIR) tries, in order, for
# each SRC_URI given, under the conf file given first. Used by
# TestRealBitbakeResolvesMirrors.
import sys, os
sys.path.insert(0, os.path.join(os.environ["BITBAKE_DIR"], "lib"))
import bb.data, bb.parse, bb.fetch2
import bb.parse.parse_py.ConfHandler
d = bb.data.init()
d.setVar("TOPDIR", "/srv/xtbuild/build")
bb.parse.parse_py.ConfHandler.handle(os.path.abspath(sys.argv[1]), d, 0)
d.setVar("DL_DIR", "/nonexistent/downloads")
d.setVar("BB_GENERATE_MIRROR_TARBALLS", "1")
d.setVar("SRCREV", "0123456789abcdef0123456789abcdef01234567")
mirrors = bb.fetch2.mirror_from_string(d.getVar("PREMIRRORS"))
for url in sys.argv[2:]:
    ud = bb.fetch2.FetchData(url, d)
    ud.setup_localpath(d)
    uris, _ = bb.fetch2.build_mirroruris(ud, mirrors, d)
    print(url)
    for u in uris:
        print("   ", u)
