"""Finding Java and Groovy, and compiling cpimock's script API classes once per version.

Java comes from ``$CPIMOCK_JAVA_HOME``, ``$JAVA_HOME`` or the ``PATH``; ``javac`` from the same
JDK. Groovy is Debian's 2.4.21 (``/usr/share/java/groovy-all.jar``, else the jars of
``/usr/share/groovy/lib``), or the installation named by ``$CPIMOCK_GROOVY_HOME`` (a Groovy 4
home, for script steps of version 2.x: its ``lib/*.jar``). Nothing here starts a JVM unless a
Groovy step runs: probing is a few ``stat`` calls.

The script API's Java sources ship in the package (``java/``) and are compiled with ``javac``
into ``~/.cache/cpimock/groovy/<hash>`` (``$CPIMOCK_CACHE_DIR`` or ``$XDG_CACHE_HOME`` first),
keyed by the sources, the JDK and the Groovy jars, so a new version compiles once and an
unchanged one never again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cpimock.errors import CpimockError

__all__ = ["INSTALL_HINT", "GroovyUnavailable", "Toolchain", "compiled_classes", "find_toolchain", "use_groovy_home"]

INSTALL_HINT = "apt-get install groovy default-jdk-headless"
JAVA_SOURCES = Path(__file__).with_name("java")
_DEBIAN_GROOVY_ALL = Path("/usr/share/java/groovy-all.jar")
_DEBIAN_GROOVY_LIB = Path("/usr/share/groovy/lib")
_COMPILE_LOCK = threading.Lock()


class GroovyUnavailable(CpimockError):
    """Java, javac or Groovy is missing (or cpimock's script API does not compile with them)."""


@dataclass(frozen=True, slots=True)
class Toolchain:
    java: Path
    javac: Path
    groovy_jars: tuple[Path, ...]

    @property
    def java_home(self) -> Path:
        return self.java.resolve().parent.parent


# the Groovy home the workspace names ([groovy] home in cpimock.toml); one per process
_configured_home: Path | None = None


def use_groovy_home(home: Path | None) -> None:
    """Take Groovy's jars from *home* (None: ``$CPIMOCK_GROOVY_HOME``, else Debian's)."""
    global _configured_home
    _configured_home = home


def find_toolchain(groovy_home: Path | None = None) -> Toolchain:
    """Java, javac and the Groovy jars, or :class:`GroovyUnavailable` saying how to install them."""
    java = _java()
    if java is None:
        raise GroovyUnavailable(f"Groovy steps need Java, which is not installed; install it with `{INSTALL_HINT}`")
    javac = java.resolve().with_name("javac")
    if not javac.is_file():
        found = shutil.which("javac")
        if found is None:
            raise GroovyUnavailable(
                "Groovy steps need a JDK (javac), and only a Java runtime is installed; "
                f"install it with `{INSTALL_HINT}`"
            )
        javac = Path(found)
    jars = _groovy_jars(groovy_home)
    return Toolchain(java, javac, jars)


def _java() -> Path | None:
    for variable in ("CPIMOCK_JAVA_HOME", "JAVA_HOME"):
        home = os.environ.get(variable)
        if home and (Path(home) / "bin" / "java").is_file():
            return Path(home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


def _groovy_jars(groovy_home: Path | None) -> tuple[Path, ...]:
    home = groovy_home or _configured_home
    if home is None and os.environ.get("CPIMOCK_GROOVY_HOME"):
        home = Path(os.environ["CPIMOCK_GROOVY_HOME"])
    if home is not None:
        jars = tuple(sorted((home / "lib").glob("*.jar")))
        if not jars:
            raise GroovyUnavailable(
                f"the Groovy home {home} has no lib/*.jar; name an unpacked Groovy distribution "
                "([groovy] home in cpimock.toml, or CPIMOCK_GROOVY_HOME)"
            )
        return jars
    if _DEBIAN_GROOVY_ALL.is_file():
        return (_DEBIAN_GROOVY_ALL,)
    jars = tuple(sorted(_DEBIAN_GROOVY_LIB.glob("*.jar")))
    if jars:
        return jars
    raise GroovyUnavailable(f"Groovy steps need Groovy, which is not installed; install it with `{INSTALL_HINT}`")


def cache_root() -> Path:
    explicit = os.environ.get("CPIMOCK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cpimock"


def _fingerprint(tool: Toolchain) -> str:
    digest = hashlib.sha256()
    for source in sorted(JAVA_SOURCES.rglob("*.java")):
        digest.update(source.relative_to(JAVA_SOURCES).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    # the JDK's release file names its exact version; its path and size tell JDKs apart without one
    release = tool.java_home / "release"
    digest.update(str(tool.javac.resolve()).encode() + b"\0")
    digest.update(release.read_bytes() if release.is_file() else str(tool.java.resolve().stat().st_size).encode())
    for jar in tool.groovy_jars:
        stat = jar.resolve().stat()
        digest.update(f"\0{jar.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def compiled_classes(tool: Toolchain) -> Path:
    """The folder of the compiled script API and worker, compiling them first if no cache has them."""
    with _COMPILE_LOCK:
        root = cache_root() / "groovy"
        target = root / _fingerprint(tool)
        classes = target / "classes"
        if (target / "complete").is_file():
            return classes
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            root = Path(tempfile.gettempdir()) / f"cpimock-{os.getuid()}" / "groovy"
            root.mkdir(parents=True, exist_ok=True)
            target = root / target.name
            classes = target / "classes"
            if (target / "complete").is_file():
                return classes
        work = Path(tempfile.mkdtemp(prefix=".compile-", dir=root))
        try:
            _javac(tool, work / "classes")
            (work / "complete").write_text("compiled by cpimock\n")
            try:
                work.rename(target)
            except OSError:  # another process compiled it meanwhile
                if not (target / "complete").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return classes


def _javac(tool: Toolchain, out: Path) -> None:
    sources = sorted(str(p) for p in JAVA_SOURCES.rglob("*.java"))
    classpath = os.pathsep.join(str(j) for j in tool.groovy_jars)
    command = [str(tool.javac), "-nowarn", "-encoding", "UTF-8", "-d", str(out), "-cp", classpath, *sources]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GroovyUnavailable(f"compiling cpimock's Groovy script API failed: {exc}") from None
    if done.returncode != 0:
        errors = [line for line in (done.stderr or done.stdout).splitlines() if "error:" in line][:3]
        detail = "; ".join(errors) or (done.stderr or done.stdout).strip()[-500:]
        raise GroovyUnavailable(
            f"compiling cpimock's Groovy script API with {tool.javac} failed ({detail}); "
            f"check the Groovy jars ({', '.join(str(j) for j in tool.groovy_jars[:3])})"
        )
