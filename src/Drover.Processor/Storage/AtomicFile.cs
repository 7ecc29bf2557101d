using Drover.ServiceDefaults;

namespace Drover.Processor.Storage;

/// <summary>
/// Writes that a crash never leaves half done: the bytes go to a temporary file, which is flushed to the disk
/// and then renamed over the old one. rename(2) is atomic, so a reader sees the old file or the new one, never a mix.
/// </summary>
internal static class AtomicFile
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

    /// <summary>Makes the names in a directory durable (a new file or a rename is only on disk once its directory is).</summary>
    public static void SyncDirectory(string path) => Durability.SyncDirectory(path);
}
