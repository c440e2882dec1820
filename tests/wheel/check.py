"""Checks of the mimic Python package as built and installed by tests/wheel/run.sh.

  check.py wheel WHEEL VERSION
      the archive: mimic/ with the library as mimic/libmimic.so.<major> (a regular,
      executable file, no link), _build_info.py with VERSION, a .dist-info whose METADATA,
      WHEEL (py3-none-<platform>, not purelib) and RECORD (every file once, sha256 and size
      right) are what installers need.
  check.py installed VERSION PACKAGE_DIR
      run with the venv's python, from a directory outside the repository, with no
      MIMIC_LIBRARY, LD_LIBRARY_PATH or PYTHONPATH: `import mimic` comes from PACKAGE_DIR and
      loads the library there (and no other), __version__ == VERSION == the library's, and a
      small student trains (its loss falls).
"""

import base64
import csv
import hashlib
import io
import os
import stat
import sys
import sysconfig
import zipfile


class CheckFailed(Exception):
    """What is wrong with the wheel or the installed package (python/tests import check_wheel
    too)."""


def fail(message):
    raise CheckFailed(message)


def check_wheel(path, version):
    major = version.split(".")[0]
    dist_info = "mimic-%s.dist-info" % version
    tag = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
    expected_name = "mimic-%s-%s.whl" % (version, tag)
    if os.path.basename(path) != expected_name:
        fail("the wheel is %s, expected %s" % (os.path.basename(path), expected_name))
    with zipfile.ZipFile(path) as whl:
        infos = {i.filename: i for i in whl.infolist()}
        data = {name: whl.read(name) for name in infos}
    library = "mimic/libmimic.so.%s" % major
    for name in ("mimic/__init__.py", "mimic/_lib.py", "mimic/_version.py",
                 "mimic/_build_info.py", library, dist_info + "/METADATA",
                 dist_info + "/WHEEL", dist_info + "/RECORD", dist_info + "/top_level.txt"):
        if name not in infos:
            fail("%s lacks %s" % (path, name))
    stray = [n for n in infos if not n.startswith(("mimic/", dist_info + "/"))
             or "__pycache__" in n or n.endswith(".pyc")]
    if stray:
        fail("unexpected entries in the wheel: %s" % ", ".join(stray))
    for name, info in infos.items():
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            fail("%s is a symbolic link in the wheel" % name)
    if not (infos[library].external_attr >> 16) & 0o111:
        fail("%s is not executable in the wheel" % library)
    if not data[library].startswith(b"\x7fELF"):
        fail("%s is not an ELF shared object" % library)
    if ('VERSION = "%s"' % version) not in data["mimic/_build_info.py"].decode():
        fail("mimic/_build_info.py does not hold VERSION = %r" % version)

    metadata = data[dist_info + "/METADATA"].decode()
    head = metadata.split("\n\n", 1)[0].splitlines()
    for line in ("Metadata-Version: 2.1", "Name: mimic", "Version: " + version,
                 "Requires-Python: >=3.8", "Description-Content-Type: text/markdown"):
        if line not in head:
            fail("METADATA lacks the line %r" % line)
    if not any(l.startswith("Requires-Dist: numpy") for l in head):
        fail("METADATA does not require numpy")
    if "## Install" not in metadata.split("\n\n", 1)[1]:
        fail("METADATA's description is not python/README.md")
    wheel = data[dist_info + "/WHEEL"].decode().splitlines()
    for line in ("Wheel-Version: 1.0", "Root-Is-Purelib: false", "Tag: " + tag):
        if line not in wheel:
            fail("WHEEL lacks the line %r" % line)

    rows = list(csv.reader(io.StringIO(data[dist_info + "/RECORD"].decode())))
    listed = [r[0] for r in rows]
    if sorted(listed) != sorted(infos) or len(set(listed)) != len(listed):
        fail("RECORD lists %s, the wheel holds %s" % (sorted(listed), sorted(infos)))
    for name, digest, size in rows:
        if name == dist_info + "/RECORD":
            if digest or size:
                fail("RECORD gives itself a hash")
            continue
        want = "sha256=" + base64.urlsafe_b64encode(
            hashlib.sha256(data[name]).digest()).rstrip(b"=").decode()
        if digest != want or int(size) != len(data[name]):
            fail("RECORD: %s has %s,%s; the file is %s,%d" % (name, digest, size, want,
                                                               len(data[name])))
    print("check.py: %s: %d files, RECORD right, %s %d bytes"
          % (os.path.basename(path), len(infos), library, len(data[library])))


def check_installed(version, package_dir):
    for var in ("MIMIC_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH"):
        if os.environ.get(var):
            fail("%s is set (%s): the check needs an environment without it"
                 % (var, os.environ[var]))
    import numpy as np
    import mimic

    package_dir = os.path.realpath(package_dir)
    where = os.path.realpath(os.path.dirname(mimic.__file__))
    if where != package_dir:
        fail("mimic was imported from %s, not %s" % (where, package_dir))
    library = os.path.realpath(mimic.library_path)
    if os.path.dirname(library) != package_dir:
        fail("mimic.library_path is %s, not in %s" % (mimic.library_path, package_dir))
    with open("/proc/self/maps") as f:
        mapped = {os.path.realpath(line.split(None, 5)[5].strip()) for line in f
                  if len(line.split(None, 5)) == 6 and "libmimic" in line}
    if mapped != {library}:
        fail("the process maps %s, expected only %s" % (sorted(mapped), library))
    if not (mimic.__version__ == version == mimic.library_version):
        fail("mimic.__version__ %s, library %s, header %s"
             % (mimic.__version__, mimic.library_version, version))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype(np.float32)
    teacher = (np.tanh(x @ rng.normal(size=(8, 16))) @ rng.normal(size=(16, 3))).astype(
        np.float32)
    student = mimic.Student(8, 32, 3, seed=1)
    history = student.fit(mimic.Dataset(x, teacher), loss="l2", epochs=10, batch_size=32,
                          learning_rate=0.01)
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    if not last < 0.5 * first:  # measured: 0.98 -> 0.28
        fail("training did not lower the loss enough: %.4f -> %.4f" % (first, last))
    print("check.py: mimic %s from %s, library %s; train loss %.4f -> %.4f in %d epochs"
          % (mimic.__version__, where, library, first, last, len(history)))


def main(argv):
    checks = {"wheel": check_wheel, "installed": check_installed}
    if len(argv) != 4 or argv[1] not in checks:
        sys.exit("usage: check.py wheel WHEEL VERSION | installed VERSION PACKAGE_DIR")
    try:
        checks[argv[1]](argv[2], argv[3])
    except CheckFailed as e:
        sys.exit("check.py: %s" % e)


if __name__ == "__main__":
    main(sys.argv)
