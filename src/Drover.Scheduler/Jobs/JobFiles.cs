using Drover.Contracts;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>Files uploaded with a job wait under the data directory until the job stops.</summary>
internal static class JobFiles
{
    public static void Delete(string? dir, ILogger logger)
    {
        if (dir is null)
            return;
        try
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
        catch (IOException e)
        {
            logger.LogWarning(e, "Could not delete uploaded files in {Directory}", dir);
        }
        catch (UnauthorizedAccessException e)
        {
            logger.LogWarning(e, "Could not delete uploaded files in {Directory}", dir);
        }
    }
}
