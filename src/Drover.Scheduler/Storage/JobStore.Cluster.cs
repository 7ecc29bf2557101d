using Dapper;

namespace Drover.Scheduler.Storage;

/// <summary>
/// Schedulers sharing the database: each renews its presence; an active attempt is followed by its owner only, and
/// one whose owner's presence lapsed is taken over; work that must run once (pruning, discovery, expiry) runs under
/// a lease.
/// </summary>
internal sealed partial class JobStore
{
    public Task RenewPresenceAsync(string? url, long now, long expiresAt, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            await w.Connection.ExecuteAsync(
                """
                INSERT INTO schedulers (id, url, started_at, expires_at) VALUES (@id, @url, @now, @expiresAt)
                ON CONFLICT (id) DO UPDATE SET url = excluded.url, expires_at = excluded.expires_at
                """, new { id = _incarnation, url, now, expiresAt }, w.Transaction);
            // Every start draws a new name: names gone for a day are forgotten.
            await w.Connection.ExecuteAsync("DELETE FROM schedulers WHERE expires_at < @before", new { before = now - 86_400_000 }, w.Transaction);
            return true;
        }, cancellationToken);

    /// <summary>This scheduler leaves: its presence ends now, so that the others take its attempts over at once.</summary>
    public Task LeaveAsync(long now, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            await w.Connection.ExecuteAsync("UPDATE schedulers SET expires_at = @now WHERE id = @id", new { id = _incarnation, now }, w.Transaction);
            return await w.Connection.ExecuteAsync("UPDATE leases SET expires_at = @now WHERE holder = @id", new { id = _incarnation, now }, w.Transaction);
        }, cancellationToken);

    /// <summary>Takes or renews the named lease until <paramref name="expiresAt"/>; true while this scheduler holds it.</summary>
    public Task<bool> TryLeaseAsync(string name, long now, long expiresAt, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            var holder = await w.Connection.ExecuteScalarAsync<string?>(
                """
                INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @expiresAt)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE leases.holder = excluded.holder OR leases.expires_at < @now
                RETURNING holder
                """, new { name, holder = _incarnation, expiresAt, now }, w.Transaction);
            return holder == _incarnation;
        }, cancellationToken);

    /// <summary>
    /// Makes this scheduler the owner of active attempts whose owner is gone (its presence lapsed, or none is
    /// recorded); with <paramref name="all"/> (a SQLite file, which only this scheduler can have open) of every one.
    /// Returns how many it took. A scheduler that lost an attempt this way can no longer write what only its owner
    /// may (lost, timed out, un-claimed): those changes name their owner (see <see cref="AttemptChange.Owner"/>).
    /// </summary>
    public Task<int> TakeOverAsync(long now, bool all, CancellationToken cancellationToken) =>
        WriteAsync(async w => await w.Connection.ExecuteAsync(
            """
            UPDATE attempts SET owner = @me
            WHERE state IN ('placed', 'running') AND (owner IS NULL OR owner <> @me)
              AND (@all = 1 OR NOT EXISTS (SELECT 1 FROM schedulers s WHERE s.id = attempts.owner AND s.expires_at >= @now))
            """, new { me = _incarnation, now, all = all ? 1L : 0L }, w.Transaction), cancellationToken);
}
