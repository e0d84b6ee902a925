"""Destinations that cannot be written: one clear line naming the path, before any work."""

import errno

import pytest

from mmdf_bench.errors import OutputError
from mmdf_bench.output_paths import (is_storage_error, prepare_output_file, prepare_output_folder,
                                     writing)


def test_a_new_folder_is_created_and_left_without_probe_files(tmp_path):
    folder = prepare_output_folder(tmp_path / "a" / "b", option="--out")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_a_file_where_a_folder_should_be_is_named(tmp_path):
    blocking = tmp_path / "afile.txt"
    blocking.write_text("x")
    with pytest.raises(OutputError, match=r"afile.txt \(--out\) is a file, not a folder"):
        prepare_output_folder(blocking, option="--out")
    with pytest.raises(OutputError, match=f"cannot be created: {blocking} is a file"):
        prepare_output_folder(blocking / "sub", option="--out")
    with pytest.raises(OutputError, match=f"{blocking} is a file, not a folder"):
        prepare_output_file(blocking / "report.html", option="-o")


def test_a_folder_given_as_output_file_is_named(tmp_path):
    with pytest.raises(OutputError, match=f"output file {tmp_path} \\(-o\\) is a folder"):
        prepare_output_file(tmp_path, option="-o")


def test_unwritable_destinations_are_refused_before_anything_is_written(unwritable_folder):
    folder, reason = unwritable_folder
    for check, path in ((prepare_output_folder, folder), (prepare_output_folder, folder / "new"),
                        (prepare_output_file, folder / "report.html")):
        with pytest.raises(OutputError) as raised:
            check(path, option="-o")
        assert str(raised.value) == f"cannot write {path} (-o): {reason}"


def test_a_full_disk_met_while_writing_names_the_file_and_what_is_kept(tmp_path):
    with pytest.raises(OutputError) as raised:
        with writing("/dev/full", option="-o", kept="nothing else was touched"):
            with open("/dev/full", "w") as handle:
                handle.write("x" * 10_000)
    assert str(raised.value) == ("cannot write /dev/full (-o): the disk is full; "
                                 "nothing else was touched")


def test_only_storage_errors_stop_a_run():
    assert is_storage_error(OSError(errno.ENOSPC, "No space left on device"))
    assert is_storage_error(OSError(errno.EROFS, "Read-only file system"))
    assert not is_storage_error(OSError(errno.ENOENT, "No such file or directory"))
    assert not is_storage_error(ValueError("bad value"))


def test_errors_without_an_errno_pass_through(tmp_path):
    class ConnectionLost(OSError):
        pass

    with pytest.raises(ConnectionLost):
        with writing(tmp_path):
            raise ConnectionLost("the scheduler went away")
