using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace Drover.Aws.Tests.Fake;

/// <summary>
/// An AWS service model as botocore ships it (Debian's python3-botocore): the test server holds every request
/// and every answer to its shapes, so the client is checked against AWS's own definitions, not against itself.
/// </summary>
internal sealed class ServiceModel
{
    public const string BotocoreData = "/usr/lib/python3/dist-packages/botocore/data";
    private readonly JsonElement _shapes;
    private readonly JsonElement _operations;

    private ServiceModel(JsonDocument document)
    {
        _operations = document.RootElement.GetProperty("operations");
        _shapes = document.RootElement.GetProperty("shapes");
        Metadata = document.RootElement.GetProperty("metadata");
    }

    public JsonElement Metadata { get; }

    public static ServiceModel Load(string service, string version)
    {
        var path = Path.Combine(BotocoreData, service, version, "service-2.json");
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} is missing: install Debian's python3-botocore (apt-get install -y python3-botocore)");
        return new ServiceModel(JsonDocument.Parse(File.ReadAllBytes(path)));
    }

    public bool HasOperation(string name) => _operations.TryGetProperty(name, out _);

    public string? InputShape(string operation) =>
        _operations.GetProperty(operation).TryGetProperty("input", out var i) ? i.GetProperty("shape").GetString() : null;

    public string? OutputShape(string operation) =>
        _operations.GetProperty(operation).TryGetProperty("output", out var o) ? o.GetProperty("shape").GetString() : null;

    private JsonElement Shape(string name) => _shapes.GetProperty(name);

    /// <summary>JSON protocols: every member known, required ones present, types and enums right.</summary>
    public List<string> ValidateJson(string shapeName, JsonElement value, IReadOnlySet<string>? extraTopLevel = null)
    {
        var errors = new List<string>();
        Validate(shapeName, value, "$", errors, extraTopLevel);
        return errors;
    }

    private void Validate(string shapeName, JsonElement value, string path, List<string> errors, IReadOnlySet<string>? extras)
    {
        var shape = Shape(shapeName);
        var type = shape.GetProperty("type").GetString();
        switch (type)
        {
            case "structure":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"{path}: expected an object ({shapeName})");
                    return;
                }
                var members = shape.GetProperty("members");
                foreach (var property in value.EnumerateObject())
                {
                    if (members.TryGetProperty(property.Name, out var member))
                        Validate(member.GetProperty("shape").GetString()!, property.Value, $"{path}.{property.Name}", errors, null);
                    else if (extras?.Contains(property.Name) != true)
                        errors.Add($"{path}.{property.Name}: not a member of {shapeName}");
                }
                foreach (var required in Required(shape))
                {
                    if (!value.TryGetProperty(required, out _))
                        errors.Add($"{path}.{required}: required by {shapeName}");
                }
                break;
            case "list":
                if (value.ValueKind != JsonValueKind.Array)
                {
                    errors.Add($"{path}: expected an array ({shapeName})");
                    return;
                }
                var itemShape = shape.GetProperty("member").GetProperty("shape").GetString()!;
                var index = 0;
                foreach (var item in value.EnumerateArray())
                    Validate(itemShape, item, $"{path}[{index++}]", errors, null);
                CheckLength(shape, index, path, errors);
                break;
            case "map":
                if (value.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"{path}: expected an object ({shapeName})");
                    return;
                }
                var valueShape = shape.GetProperty("value").GetProperty("shape").GetString()!;
                foreach (var entry in value.EnumerateObject())
                    Validate(valueShape, entry.Value, $"{path}.{entry.Name}", errors, null);
                break;
            case "string":
                if (value.ValueKind != JsonValueKind.String)
                {
                    errors.Add($"{path}: expected a string ({shapeName})");
                    return;
                }
                CheckString(shape, value.GetString()!, path, errors);
                break;
            case "integer" or "long":
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var whole))
                {
                    errors.Add($"{path}: expected an integer ({shapeName})");
                    return;
                }
                CheckRange(shape, whole, path, errors);
                break;
            case "double" or "float" or "timestamp":
                // JSON protocols send timestamps as epoch seconds, a number.
                if (value.ValueKind != JsonValueKind.Number)
                    errors.Add($"{path}: expected a number ({shapeName})");
                break;
            case "boolean":
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    errors.Add($"{path}: expected true or false ({shapeName})");
                break;
            case "blob":
                if (value.ValueKind != JsonValueKind.String)
                    errors.Add($"{path}: expected base64 text ({shapeName})");
                break;
            default:
                errors.Add($"{path}: shape type {type} is not understood by the test server");
                break;
        }
    }

    private static IEnumerable<string> Required(JsonElement shape) =>
        shape.TryGetProperty("required", out var required) ? required.EnumerateArray().Select(r => r.GetString()!) : [];

    private static void CheckString(JsonElement shape, string text, string path, List<string> errors)
    {
        if (shape.TryGetProperty("enum", out var values) && !values.EnumerateArray().Any(v => v.GetString() == text))
            errors.Add($"{path}: \"{text}\" is not one of {string.Join(", ", values.EnumerateArray().Select(v => v.GetString()))}");
        CheckLength(shape, text.Length, path, errors);
    }

    private static void CheckLength(JsonElement shape, long length, string path, List<string> errors)
    {
        if (shape.TryGetProperty("min", out var min) && length < min.GetInt64())
            errors.Add($"{path}: shorter than {min.GetInt64()}");
        if (shape.TryGetProperty("max", out var max) && length > max.GetInt64())
            errors.Add($"{path}: longer than {max.GetInt64()}");
    }

    private static void CheckRange(JsonElement shape, long number, string path, List<string> errors)
    {
        if (shape.TryGetProperty("min", out var min) && number < min.GetInt64())
            errors.Add($"{path}: less than {min.GetInt64()}");
        if (shape.TryGetProperty("max", out var max) && number > max.GetInt64())
            errors.Add($"{path}: more than {max.GetInt64()}");
    }

    /// <summary>
    /// EC2's query protocol: <c>Filter.1.Name=...&amp;Filter.1.Value.1=...</c>. Each key is walked down the input
    /// shape by its serialized names (queryName, else locationName capitalized, else the member name); lists are
    /// flattened with 1-based indexes. Action and Version are the protocol's own.
    /// </summary>
    public List<string> ValidateQuery(string shapeName, IReadOnlyDictionary<string, string> form)
    {
        var errors = new List<string>();
        var shape = Shape(shapeName);
        foreach (var (key, value) in form)
        {
            if (key is "Action" or "Version")
                continue;
            ValidateQueryKey(shapeName, key.Split('.'), 0, value, key, errors);
        }
        foreach (var required in Required(shape))
        {
            var name = QueryName(shape.GetProperty("members").GetProperty(required), required);
            if (!form.Keys.Any(k => k == name || k.StartsWith(name + ".", StringComparison.Ordinal)))
                errors.Add($"{name}: required by {shapeName}");
        }
        return errors;
    }

    private void ValidateQueryKey(string shapeName, string[] parts, int at, string value, string key, List<string> errors)
    {
        var shape = Shape(shapeName);
        switch (shape.GetProperty("type").GetString())
        {
            case "structure":
                if (at >= parts.Length)
                {
                    errors.Add($"{key}: {shapeName} is a structure, not a value");
                    return;
                }
                var member = shape.GetProperty("members").EnumerateObject()
                    .FirstOrDefault(m => QueryName(m.Value, m.Name) == parts[at]);
                if (member.Value.ValueKind == JsonValueKind.Undefined)
                {
                    errors.Add($"{key}: {parts[at]} is not a member of {shapeName}");
                    return;
                }
                ValidateQueryKey(member.Value.GetProperty("shape").GetString()!, parts, at + 1, value, key, errors);
                break;
            case "list":
                if (at >= parts.Length || !int.TryParse(parts[at], NumberStyles.None, CultureInfo.InvariantCulture, out var index) || index < 1)
                {
                    errors.Add($"{key}: a list member needs a 1-based index");
                    return;
                }
                ValidateQueryKey(shape.GetProperty("member").GetProperty("shape").GetString()!, parts, at + 1, value, key, errors);
                break;
            default:
                if (at != parts.Length)
                {
                    errors.Add($"{key}: {shapeName} is a value, not a structure");
                    return;
                }
                ValidateQueryScalar(shape, shapeName, value, key, errors);
                break;
        }
    }

    private static void ValidateQueryScalar(JsonElement shape, string shapeName, string value, string key, List<string> errors)
    {
        switch (shape.GetProperty("type").GetString())
        {
            case "string":
                CheckString(shape, value, key, errors);
                break;
            case "integer" or "long":
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                    errors.Add($"{key}: expected an integer ({shapeName})");
                else
                    CheckRange(shape, number, key, errors);
                break;
            case "boolean":
                if (value is not ("true" or "false"))
                    errors.Add($"{key}: expected true or false ({shapeName})");
                break;
            case "double" or "float":
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    errors.Add($"{key}: expected a number ({shapeName})");
                break;
            case "timestamp":
                if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _))
                    errors.Add($"{key}: expected an ISO 8601 time ({shapeName})");
                break;
        }
    }

    private static string QueryName(JsonElement member, string memberName)
    {
        if (member.TryGetProperty("queryName", out var query))
            return query.GetString()!;
        if (member.TryGetProperty("locationName", out var location))
        {
            var name = location.GetString()!;
            return char.ToUpperInvariant(name[0]) + name[1..];
        }
        return memberName;
    }

    /// <summary>
    /// EC2's XML answer built from the output shape: each member under its locationName, lists as their member's
    /// element (<c>item</c>), values checked against the shape on the way (an answer off the model throws).
    /// </summary>
    public XElement ToXml(string operation, JsonObject result, XNamespace ns)
    {
        var shapeName = OutputShape(operation)!;
        var root = new XElement(ns + $"{operation}Response", new XElement(ns + "requestId", Guid.NewGuid().ToString()));
        WriteMembers(shapeName, result, root, ns);
        return root;
    }

    private void WriteMembers(string shapeName, JsonObject value, XElement parent, XNamespace ns)
    {
        var members = Shape(shapeName).GetProperty("members");
        foreach (var (name, node) in value)
        {
            if (!members.TryGetProperty(name, out var member))
                throw new InvalidOperationException($"{name} is not a member of {shapeName}");
            if (node is null)
                continue;
            var element = new XElement(ns + (member.TryGetProperty("locationName", out var location) ? location.GetString()! : name));
            WriteValue(member.GetProperty("shape").GetString()!, node, element, ns);
            parent.Add(element);
        }
    }

    private void WriteValue(string shapeName, JsonNode node, XElement element, XNamespace ns)
    {
        var shape = Shape(shapeName);
        switch (shape.GetProperty("type").GetString())
        {
            case "structure":
                WriteMembers(shapeName, node.AsObject(), element, ns);
                break;
            case "list":
                var member = shape.GetProperty("member");
                var itemName = member.TryGetProperty("locationName", out var location) ? location.GetString()! : "member";
                foreach (var item in node.AsArray())
                {
                    var child = new XElement(ns + itemName);
                    WriteValue(member.GetProperty("shape").GetString()!, item!, child, ns);
                    element.Add(child);
                }
                break;
            default:
                var text = node.GetValueKind() switch
                {
                    JsonValueKind.String => node.GetValue<string>(),
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    _ => node.ToJsonString(),
                };
                var errors = new List<string>();
                ValidateQueryScalar(shape, shapeName, text, element.Name.LocalName, errors);
                if (errors.Count > 0)
                    throw new InvalidOperationException(string.Join("; ", errors));
                element.Value = text;
                break;
        }
    }
}
