"""Hostile: changes the metadata of files it may only read (the Python installation, its own
file) through read-only descriptors: modes, times, owner, extended attributes. Landlock does
not cover these; seccomp's allow-list refuses them. Every change is a no-op if it succeeded
(same mode, same times, same owner), so a failing sandbox breaks nothing."""

import os

TARGETS = [os.__file__, __file__]

for target in TARGETS:
    fd = os.open(target, os.O_RDONLY)
    st = os.fstat(fd)
    for what, fn in [
        ("fchmod", lambda: os.chmod(fd, st.st_mode & 0o7777)),
        ("futimens", lambda: os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))),
        ("fchown", lambda: os.chown(fd, st.st_uid, st.st_gid)),
        ("fsetxattr", lambda: os.setxattr(fd, "user.chainrule", b"x")),
    ]:
        try:
            fn()
            print(what, "ALLOWED")
        except OSError as e:
            print(what, "refused", type(e).__name__)
    os.close(fd)

# __CORRECT_VALUE_CLASS__
