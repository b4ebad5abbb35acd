"""How the CLI turns HTTP answers into sentences and exit codes."""

from __future__ import annotations

import json

import pytest

from mp4mp3_cli.errors import CliError, ExitCode, detail_of, from_response


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_detail_sentence_is_taken_as_is() -> None:
    assert detail_of(body({"detail": "No job with id cj-1."})) == "No job with id cj-1."


def test_validation_list_names_the_field() -> None:
    document = {
        "detail": [{"loc": ["body", "password"], "msg": "The password must be at least 10 characters long."}]
    }
    assert detail_of(body(document)) == "password: The password must be at least 10 characters long."


def test_body_without_detail_gives_none() -> None:
    assert detail_of(b"Internal Server Error") is None
    assert detail_of(body({"other": 1})) is None
    assert detail_of(body([1, 2])) is None


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, ExitCode.REFUSED),
        (401, ExitCode.NOT_LOGGED_IN),
        (404, ExitCode.NOT_FOUND),
        (409, ExitCode.REFUSED),
        (413, ExitCode.REFUSED),
        (415, ExitCode.REFUSED),
        (422, ExitCode.REFUSED),
        (429, ExitCode.REFUSED),
        (500, ExitCode.SERVER_ERROR),
        (502, ExitCode.UNREACHABLE),
        (503, ExitCode.UNREACHABLE),
    ],
)
def test_each_status_has_its_exit_code(status: int, code: ExitCode) -> None:
    assert from_response(status, body({"detail": "Why."}), what="the upload").code == code


def test_refusal_keeps_the_servers_reason() -> None:
    error = from_response(413, body({"detail": "The video is larger than the limit of 4 GiB."}), what="x")
    assert error.message == "The video is larger than the limit of 4 GiB."


def test_rejected_token_suggests_login() -> None:
    error = from_response(401, body({"detail": "The token has expired; log in again."}), what="x")
    assert error.message == "The token has expired; log in again. Run `mp4mp3 login`."
    wrong = from_response(401, body({"detail": "Wrong email or password."}), what="x", login_hint=False)
    assert wrong.message == "Wrong email or password."


def test_server_failure_without_a_body_still_says_what_failed() -> None:
    error = from_response(500, b"Internal Server Error", what="the job list")
    assert error.message == "The server failed on the job list (500)."


def test_json_form_of_an_error() -> None:
    assert CliError(ExitCode.NOT_FOUND, "No job.").as_json() == {
        "code": 7,
        "kind": "not_found",
        "message": "No job.",
    }


def test_documented_exit_codes_do_not_change() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "JOB_FAILED": 1,
        "USAGE": 2,
        "NOT_LOGGED_IN": 3,
        "UNREACHABLE": 4,
        "LOCAL_FILE": 5,
        "REFUSED": 6,
        "NOT_FOUND": 7,
        "SERVER_ERROR": 8,
        "INTERNAL": 9,
        "INTERRUPTED": 130,
    }
