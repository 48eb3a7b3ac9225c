import platform

from _shared.provenance import git_commit, hardware, library_versions, package_version


def test_versions_name_python_and_leave_out_what_is_not_installed():
    versions = library_versions(("numpy", "no-such-package-xyz"))
    assert versions["python"] == platform.python_version()
    assert "numpy" in versions and "no-such-package-xyz" not in versions
    assert package_version("no-such-package-xyz") is None
    assert "python" not in library_versions(("numpy",), python=False)


def test_git_commit_is_none_outside_a_work_tree(tmp_path):
    assert git_commit(tmp_path) is None


def test_hardware_keeps_extra_entries():
    info = hardware(device="cpu")
    assert info["device"] == "cpu" and info["cpu_count"] >= 1
