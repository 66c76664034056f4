"""Hostile or broken exports are refused with one line naming the file and the entry; nothing else escapes."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpimock.iflows.export import ExportError, Limits, load_export
from cpimock.iflows.export.manifest import parse_manifest
from cpimock.iflows.export.parameters import read_parameters

from .exports import Flow, package_files, write_folder, write_zip, zip_bytes

# parsers of untrusted input: many examples, and no deadline, as a busy machine must not fail them on time
FUZZ = settings(max_examples=300, deadline=None)


def flow_with(tmp_path: Path, extra: dict[str, bytes], name: str = "Flow.zip") -> Path:
    files = Flow().files()
    files.update(extra)
    return write_zip(tmp_path / name, files)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("../../etc/cron.d/evil", "climbs out of the export"),
        ("src/../../evil", "climbs out of the export"),
        ("/etc/passwd", "is an absolute path"),
        ("src\\main\\evil", "uses a backslash"),
        ("C:/Windows/evil", "starts with a drive letter"),
        ("src/\x01evil", "holds control characters"),
    ],
)
def test_an_entry_name_that_leaves_the_export_is_refused(tmp_path: Path, entry: str, match: str) -> None:
    path = flow_with(tmp_path, {entry: b"x"})
    with pytest.raises(ExportError, match=match) as refused:
        load_export(path)
    assert str(refused.value).startswith(f"{path}: entry {entry!r}")


def test_the_twin_export_with_ordinary_entry_names_loads(tmp_path: Path) -> None:
    path = flow_with(
        tmp_path, {"src/main/resources/script/a..b.groovy": b"x", "src/main/resources/mapping/x.xsl": b"y"}
    )
    [flow] = load_export(path)
    assert "src/main/resources/script/a..b.groovy" in flow.files


def test_a_zip_bomb_is_refused_by_its_compression_ratio_before_it_is_inflated(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {"src/main/resources/wsdl/bomb.xsd": b"\0" * (4 * 1024 * 1024)})
    with pytest.raises(
        ExportError, match=r"entry 'src/main/resources/wsdl/bomb.xsd' is compressed [\d,]+:1, more than 200:1"
    ):
        load_export(path)


def test_a_large_entry_that_compresses_like_real_xml_is_read(tmp_path: Path) -> None:
    schema = b"".join(b'<xs:element name="Field%d" type="xs:string" minOccurs="0"/>\n' % n for n in range(40_000))
    [flow] = load_export(flow_with(tmp_path, {"src/main/resources/xsd/big.xsd": schema}))
    assert "src/main/resources/xsd/big.xsd" in flow.files


def test_entries_over_the_size_bounds_are_refused(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {"lib/big.bin": os.urandom(300_000)})
    with pytest.raises(ExportError, match=r"entry 'lib/big.bin' unpacks to 300,000 bytes, more than the 200,000"):
        load_export(path, limits=Limits(max_entry_bytes=200_000))
    with pytest.raises(ExportError, match=r"its entries unpack to [\d,]+ bytes, more than the 250,000"):
        load_export(path, limits=Limits(max_total_bytes=250_000))


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {f"src/main/resources/script/s{n}.groovy": b"x" for n in range(30)})
    with pytest.raises(ExportError, match=r"\d+ entries, more than the 20 cpimock reads"):
        load_export(path, limits=Limits(max_entries=20))


def test_a_package_inside_a_package_is_refused(tmp_path: Path) -> None:
    inner = package_files("Inner", [("a1", "Orders", zip_bytes(Flow().files()))])
    outer = package_files("Outer", [("b2", "Nested", zip_bytes(inner))])
    path = write_zip(tmp_path / "Outer.zip", outer)
    with pytest.raises(ExportError, match=r"b2_content \(Nested\): a package inside a package"):
        load_export(path)


def test_a_symbolic_link_entry_in_a_zip_is_refused(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {})
    with zipfile.ZipFile(path, "a") as archive:
        link = zipfile.ZipInfo("src/main/resources/script/link.groovy")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(
        ExportError, match=re.escape("entry 'src/main/resources/script/link.groovy' is a symbolic link")
    ):
        load_export(path)


def test_a_symbolic_link_out_of_a_folder_is_refused_and_one_inside_is_followed(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "flow", Flow().files())
    scripts = folder / "src/main/resources/script"
    scripts.mkdir(parents=True)
    (tmp_path / "shared.groovy").write_text("def x() {}")
    (folder / "src/main/resources/notes.txt").write_text("inside")
    (scripts / "inside.txt").symlink_to(folder / "src/main/resources/notes.txt")
    [flow] = load_export(folder)
    assert "src/main/resources/script/inside.txt" in flow.files
    (scripts / "shared.groovy").symlink_to(tmp_path / "shared.groovy")
    with pytest.raises(ExportError, match=r"src/main/resources/script/shared.groovy is a symbolic link to .*outside"):
        load_export(folder)


def test_a_dtd_in_the_iflw_is_refused(tmp_path: Path) -> None:
    files = Flow().files()
    name = next(n for n in files if n.endswith(".iflw"))
    files[name] = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + files[name].split(b"?>", 1)[1]
    )
    with pytest.raises(ExportError, match=r"Orders Inbound.iflw carries a document type declaration"):
        load_export(write_zip(tmp_path / "Flow.zip", files))


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"readme.txt": b"hello"}, "neither an iFlow export .* nor a package export"),
        (
            {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nSAP-BundleType: IntegrationFlow\r\n"},
            "no Bundle-SymbolicName",
        ),
        ({"META-INF/MANIFEST.MF": b"no colon here\r\n"}, "line 1 is not 'Name: value'"),
        ({"META-INF/MANIFEST.MF": b" continues nothing\r\n"}, "continues a header that does not exist"),
    ],
)
def test_an_export_missing_its_parts_is_refused(tmp_path: Path, files: dict[str, bytes], match: str) -> None:
    with pytest.raises(ExportError, match=match):
        load_export(write_zip(tmp_path / "Broken.zip", files))


def test_an_export_without_an_iflw_is_refused(tmp_path: Path) -> None:
    files = {name: data for name, data in Flow().files().items() if not name.endswith(".iflw")}
    with pytest.raises(
        ExportError, match=re.escape("no .iflw under src/main/resources/scenarioflows/integrationflow/")
    ):
        load_export(write_zip(tmp_path / "Flow.zip", files))


def test_a_damaged_zip_or_a_missing_path_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ExportError, match=re.escape("not.zip: not a readable zip file")):
        load_export(tmp_path / "not.zip")
    with pytest.raises(ExportError, match="no such file or folder"):
        load_export(tmp_path / "missing.zip")


def test_a_damaged_entry_is_refused_when_read(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("META-INF/MANIFEST.MF")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)  # the compressed data
    data[start : start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(ExportError, match=re.escape("entry 'META-INF/MANIFEST.MF' cannot be read")):
        load_export(path)


def test_a_broken_parameters_file_is_refused(tmp_path: Path) -> None:
    path = flow_with(tmp_path, {"src/main/resources/parameters.prop": b"bad=\\u12\n"})
    with pytest.raises(ExportError, match=re.escape("parameters.prop is not a Java properties file")):
        load_export(path)


class _Files:
    origin = "Flow.zip"

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def has(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str) -> bytes:
        return self._files[name]


@FUZZ
@given(st.binary(max_size=400))
def test_any_parameters_file_reads_or_is_refused_with_export_error(data: bytes) -> None:
    try:
        read_parameters(_Files({"src/main/resources/parameters.prop": data}))  # type: ignore[arg-type]
    except ExportError:
        pass


@FUZZ
@given(st.binary(max_size=400))
def test_any_propdef_reads_or_is_refused_with_export_error(data: bytes) -> None:
    try:
        read_parameters(_Files({"src/main/resources/parameters.propdef": data}))  # type: ignore[arg-type]
    except ExportError:
        pass


@FUZZ
@given(st.text(alphabet=st.sampled_from(list('ab:; =,"\r\n-BundleSymbolicNameSAPType')), max_size=200))
def test_any_manifest_reads_or_is_refused_with_export_error(text: str) -> None:
    try:
        parse_manifest(text.encode(), "Flow.zip")
    except ExportError:
        pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from(["prefix", "corrupt"]))
def test_any_bytes_as_an_export_load_or_are_refused_with_export_error(tmp_path: Path, noise: bytes, how: str) -> None:
    good = zip_bytes(Flow().files())
    data = noise + good if how == "prefix" else good[:30] + noise + good[30 + len(noise) :]
    path = tmp_path / "fuzz.zip"
    path.write_bytes(data)
    try:
        load_export(path)
    except ExportError:
        pass
