using System.Runtime.InteropServices;

namespace Drover.ServiceDefaults;

/// <summary>What a service needs to promise that a file it wrote survives a power cut.</summary>
public static partial class Durability
{
    /// <summary>
    /// Writes a stream to a new private file (0600) and fsyncs it (the caller syncs the directory once all its files
    /// are written).
    /// </summary>
    public static async Task WriteFileAsync(string path, Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        await using var target = new FileStream(path, PrivateFiles.NewFile(FileMode.CreateNew, FileOptions.Asynchronous));
        await content.CopyToAsync(target, cancellationToken);
        await target.FlushAsync(cancellationToken);
        target.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Makes the names in a directory durable (a new file or a rename is only on disk once its directory is).
    /// .NET cannot open a directory as a stream, hence open(2) and fsync(2) directly.
    /// </summary>
    public static void SyncDirectory(string path)
    {
        var fd = Open(path, 0 /* O_RDONLY */);
        if (fd < 0)
            throw new IOException($"cannot open directory {path} to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"cannot sync directory {path} (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
