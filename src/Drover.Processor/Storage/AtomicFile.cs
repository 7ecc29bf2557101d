using System.Runtime.InteropServices;
using Drover.ServiceDefaults;

namespace Drover.Processor.Storage;

/// <summary>
/// Writes that a crash never leaves half done: the bytes go to a temporary file beside the target (<c>NAME.tmp</c>),
/// which is flushed to the disk and then swapped with the old one. A rename is atomic, so a reader sees the old
/// file or the new one, never a mix.
/// </summary>
/// <remarks>
/// When the target exists, the two are exchanged (renameat2 RENAME_EXCHANGE) rather than the new one renamed over
/// the old: the old content stays behind as <c>NAME.tmp</c> and the next write truncates and reuses that file. So a
/// job's status changes create no inode and delete none. That matters on ext4 without a journal, whose inode
/// allocator skips, one by one, every inode deleted in the last 30 seconds: with one deleted per job, creating a file
/// there cost a Processor that ran a hundred jobs a second most of its CPU. File systems that cannot exchange fall
/// back to the plain rename.
/// </remarks>
internal static partial class AtomicFile
{
    private const uint RenameExchange = 2;   // RENAME_EXCHANGE
    private const int AtCurrentDirectory = -100; // AT_FDCWD
    private const int NoSuchEntry = 2;      // ENOENT
    private static volatile bool s_exchangeUnsupported;

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
        if (!s_exchangeUnsupported)
        {
            if (RenameAt2(AtCurrentDirectory, temporary, AtCurrentDirectory, path, RenameExchange) == 0)
                return;
            var errno = Marshal.GetLastPInvokeError();
            // ENOENT: no old file to exchange with (the first write); anything else: this file system cannot exchange.
            if (errno != NoSuchEntry)
                s_exchangeUnsupported = true;
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Makes the names in a directory durable (a new file or a rename is only on disk once its directory is).</summary>
    public static void SyncDirectory(string path) => Durability.SyncDirectory(path);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);
}
