namespace Drover.NodeConformance;

/// <summary>Job bodies every node must refuse with 400 problem+json, writing nothing.</summary>
public static class BadInput
{
    public static TheoryData<string, string> Bodies() => new()
    {
        { "not JSON", "not json" },
        { "cut short", """{"commands": [["echo", "hi"]""" },
        { "not an object", """[["echo", "hi"]]""" },
        { "no commands", """{"environment": {}}""" },
        { "empty commands", """{"commands": []}""" },
        { "null commands", """{"commands": null}""" },
        { "commands not an array", """{"commands": {"exec": ["echo"]}}""" },
        { "a command as a string", """{"commands": ["echo hi"]}""" },
        { "empty argv", """{"commands": [{"exec": []}]}""" },
        { "empty program name", """{"commands": [{"exec": [""]}]}""" },
        { "argv element not a string", """{"commands": [{"exec": ["echo", 1]}]}""" },
        { "argv as a string", """{"commands": [{"exec": "echo hi"}]}""" },
        { "empty shell line", """{"commands": [{"shell": ""}]}""" },
        { "exec and shell", """{"commands": [{"exec": ["echo"], "shell": "echo"}]}""" },
        { "unknown command field", """{"commands": [{"run": ["echo"]}]}""" },
        { "NUL in an argument", """{"commands": [["echo", "a\u0000b"]]}""" },
        { "environment value not a string", """{"commands": [["true"]], "environment": {"A": 1}}""" },
        { "environment value null", """{"commands": [["true"]], "environment": {"A": null}}""" },
        { "environment name not a name", """{"commands": [["true"]], "environment": {"1-A": "x"}}""" },
        { "environment not an object", """{"commands": [["true"]], "environment": ["A=1"]}""" },
        { "request_id with a path", """{"commands": [["true"]], "request_id": "../escape"}""" },
        { "request_id hidden", """{"commands": [["true"]], "request_id": ".hidden"}""" },
        { "request_id with a space", """{"commands": [["true"]], "request_id": "a b"}""" },
        { "request_id empty", """{"commands": [["true"]], "request_id": ""}""" },
        { "request_id too long", "{\"commands\": [[\"true\"]], \"request_id\": \"" + new string('x', 129) + "\"}" },
        { "request_id a number", """{"commands": [["true"]], "request_id": 5}""" },
        { "timeout zero", """{"commands": [["true"]], "timeout_seconds": 0}""" },
        { "timeout negative", """{"commands": [["true"]], "timeout_seconds": -5}""" },
        { "timeout a string", """{"commands": [["true"]], "timeout_seconds": "10"}""" },
        { "data after the object", """{"commands": [["true"]]} {}""" },
    };
}
