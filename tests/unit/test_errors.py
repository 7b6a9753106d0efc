from edgekit.errors import BadInput, CheckFailed, EdgekitError, MissingTool


def test_exit_codes_follow_the_cli_contract():
    assert BadInput("x").exit_code == 2
    assert CheckFailed("x").exit_code == 1
    assert MissingTool("qemu-aarch64", "qemu-user").exit_code == 3
    assert issubclass(BadInput, EdgekitError) and issubclass(MissingTool, EdgekitError)


def test_one_line_joins_message_and_hint_and_flattens_newlines():
    error = BadInput("data.csv: no such file\n", "check the\npath")
    assert error.one_line() == "data.csv: no such file; check the path"
    assert "\n" not in error.one_line()


def test_missing_tool_names_the_package_to_install():
    assert "apt-get install qemu-user" in MissingTool("qemu-aarch64", "qemu-user").one_line()
