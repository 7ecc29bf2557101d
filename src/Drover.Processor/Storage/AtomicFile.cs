using System.Runtime.InteropServices;
using Drover.ServiceDefaults;

namespace Drover.Processor.Storage;

/// <summary>
/// Writes that a crash never leaves half done: the bytes go to a temporary file, which is flushed to the disk
/// and then renamed over the old one. rename(2) is atomic, so a reader sees the old file or the new one, never a mix.
/// </summary>
internal static partial class AtomicFile
{
    /// <param name="durable">Also fsync the file before the rename, so the new content survives a power cut.</param>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool durable)
    {
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, PrivateFiles.NewFile(FileMode.Create)))
        {
            file.Write(bytes);
            if (durable)
                file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
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
