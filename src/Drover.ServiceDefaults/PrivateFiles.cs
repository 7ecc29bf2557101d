namespace Drover.ServiceDefaults;

/// <summary>
/// Files that hold secrets (job specs with their environment and <c>DROVER_TOKEN</c>, the scheduler's database,
/// uploads) are the service user's alone: directories 0700, files 0600, whatever the umask says. (Drover runs on
/// Linux; on Windows, which has no such modes, the files get the default access of their folder.)
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Creates the directory and any missing parents with mode 0700. Directories that already exist keep their mode:
    /// a state directory configured inside a shared one must not change the shared one.
    /// </summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var missing = new Stack<string>();
        for (var dir = full; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
            missing.Push(dir);
        while (missing.TryPop(out var dir))
        {
            if (OperatingSystem.IsWindows())
                Directory.CreateDirectory(dir);
            else
                Directory.CreateDirectory(dir, DirectoryMode);
        }
        return new DirectoryInfo(full);
    }

    /// <summary>Options that create a new file with mode 0600.</summary>
    public static FileStreamOptions NewFile(System.IO.FileMode mode = System.IO.FileMode.CreateNew, FileOptions options = FileOptions.None)
    {
        var created = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0, Options = options };
        if (!OperatingSystem.IsWindows())
            created.UnixCreateMode = FileMode;
        return created;
    }

    /// <summary>
    /// Makes an existing file (0600) or directory (0700) the owner's alone: one made by an older version, or by a
    /// library with a mode of its own. Only for paths the service owns, never for a directory it was merely given.
    /// </summary>
    public static void Restrict(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (OperatingSystem.IsWindows())
            return;
        var mode = Directory.Exists(path) ? DirectoryMode : File.Exists(path) ? FileMode : (UnixFileMode?)null;
        if (mode is { } wanted && File.GetUnixFileMode(path) != wanted)
            File.SetUnixFileMode(path, wanted);
    }
}
