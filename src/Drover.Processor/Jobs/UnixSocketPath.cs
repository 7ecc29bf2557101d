using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Drover.Processor.Jobs;

/// <summary>
/// A Unix socket's address holds at most 107 bytes of path, and a state directory may be deeper than that. A longer
/// path is reached through the directory's descriptor (<c>/proc/self/fd/N/name</c>): the kernel resolves it to the
/// same file, for bind and connect alike, while the socket keeps the directory's permissions (an abstract socket,
/// the other way round the limit, would let any local user connect).
/// </summary>
internal static partial class UnixSocketPath
{
    private const int MaxPath = 107; // sun_path holds 108 bytes with the terminating NUL
    private const int PathOnly = 0x200000 | 0x10000 | 0x80000; // O_PATH | O_DIRECTORY | O_CLOEXEC

    // One descriptor per directory, kept open for the life of the process.
    private static readonly ConcurrentDictionary<string, int> Directories = new(StringComparer.Ordinal);

    public static UnixDomainSocketEndPoint EndPoint(string path)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(path) <= MaxPath)
            return new UnixDomainSocketEndPoint(path);
        var directory = Path.GetDirectoryName(path)!;
        var fd = Directories.GetOrAdd(directory, d => Open(d) is var opened and >= 0
            ? opened
            : throw new IOException($"cannot open {d}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}"));
        return new UnixDomainSocketEndPoint(string.Create(CultureInfo.InvariantCulture, $"/proc/self/fd/{fd}/{Path.GetFileName(path)}"));
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags = PathOnly);
}
