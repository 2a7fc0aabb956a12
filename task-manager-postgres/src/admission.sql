-- Cluster-wide lines (src/admission.rs). `{s}` is the quoted schema, `{name}` the bare one.
--
-- A line is a flow's limit (`flow:NAME`), `limit_all` (`all`) or a resource (`resource:NAME`).
-- Every operation on a line first locks its row in `lines`, so that the operations of every
-- instance on one line happen one after the other: two instances taking the last permit at
-- once are served in turn, and the second finds it taken.
--
-- An entry belongs to its instance's presence: `holder` is the key of a session-level
-- advisory lock (class 1953328238, 'tmln') that the instance's admission connection holds
-- for as long as it lives. PostgreSQL releases it when that connection ends, the
-- instance's process killed included; from then on the entry is dead, and the next grant
-- on its line deletes it (`line_reap`), so its permit goes to the next waiter.

CREATE TABLE {s}.lines (
    name     text PRIMARY KEY,
    permits  bigint NOT NULL CHECK (permits > 0),
    capacity bigint NOT NULL CHECK (capacity > 0)
);

CREATE TABLE {s}.line_entries (
    line     text NOT NULL REFERENCES {s}.lines (name),
    task     uuid NOT NULL,
    holder   integer NOT NULL,
    priority integer NOT NULL,
    -- Arrival order across the cluster.
    seq      bigint NOT NULL,
    granted  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (line, task)
);

CREATE SEQUENCE {s}.line_arrivals;
CREATE INDEX line_entries_waiting ON {s}.line_entries (line, priority DESC, seq) WHERE NOT granted;
CREATE INDEX line_entries_by_holder ON {s}.line_entries (holder);

-- The NOTIFY channel of an instance's grants, by its presence key.
CREATE FUNCTION {s}.line_channel(holder integer) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'tm_line_' || md5('{name}/' || holder) $$;

-- Deletes the entries of line `p_line` whose instance's presence lock is gone.
CREATE FUNCTION {s}.line_reap(p_line text) RETURNS void
    LANGUAGE sql
    AS $$
    DELETE FROM {s}.line_entries e
     WHERE e.line = p_line
       AND NOT EXISTS (
           SELECT 1 FROM pg_catalog.pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted
              AND l.database = (SELECT oid FROM pg_catalog.pg_database
                                 WHERE datname = pg_catalog.current_database())
              AND l.classid = 1953328238::oid
              AND l.objid = e.holder::oid
              AND l.objsubid = 2)
$$;

-- Whether task `p_task`'s ending is decided in the store (a cancel won its record, or it
-- finished): a waiter of such a task will leave its line and never run, so it neither
-- takes a place (the capacity) nor is handed a permit, from the moment the cancel is
-- decided rather than once its instance has made it leave.
CREATE FUNCTION {s}.line_decided(p_task uuid) RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
    SELECT EXISTS (SELECT 1 FROM {s}.tasks t
                    WHERE t.id = p_task AND t.state IN ('cancelling', 'finished'))
$$;

-- Hands the free permits of line `p_line` to its first live waiters (priority, then arrival),
-- and notifies each one's instance. The caller holds the line's row lock.
CREATE FUNCTION {s}.line_grant(p_line text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_permits bigint;
    v_held    bigint;
    v_granted record;
BEGIN
    SELECT permits INTO v_permits FROM {s}.lines WHERE name = p_line FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM {s}.line_reap(p_line);
    SELECT count(*) INTO v_held FROM {s}.line_entries WHERE line = p_line AND granted;
    IF v_held >= v_permits THEN
        RETURN;
    END IF;
    FOR v_granted IN
        UPDATE {s}.line_entries SET granted = true
         WHERE line = p_line AND task IN (
               SELECT task FROM {s}.line_entries e
                WHERE line = p_line AND NOT granted AND NOT {s}.line_decided(e.task)
                ORDER BY priority DESC, seq
                LIMIT v_permits - v_held)
        RETURNING task, holder
    LOOP
        PERFORM pg_notify({s}.line_channel(v_granted.holder), v_granted.task::text || ' ' || p_line);
    END LOOP;
END
$$;

-- Task `p_task` of the instance whose presence key is `p_holder` enters line `p_line` (of
-- `p_permits` permits and `p_capacity` places, as that instance declares it: the last
-- instance to enter with other figures sets them). Answers 'admitted', 'queued' or 'full'.
-- An entry already there (a retried call) is answered as it stands.
CREATE FUNCTION {s}.line_enter(p_line text, p_permits bigint, p_capacity bigint,
                               p_task uuid, p_holder integer, p_priority integer) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_granted boolean;
    v_waiting bigint;
BEGIN
    INSERT INTO {s}.lines AS l (name, permits, capacity) VALUES (p_line, p_permits, p_capacity)
        ON CONFLICT (name) DO UPDATE SET permits = excluded.permits, capacity = excluded.capacity
        WHERE l.permits <> excluded.permits OR l.capacity <> excluded.capacity;
    -- Locks the line, and hands out what the dead left, before counting who waits.
    PERFORM {s}.line_grant(p_line);
    SELECT granted INTO v_granted FROM {s}.line_entries WHERE line = p_line AND task = p_task;
    IF FOUND THEN
        RETURN CASE WHEN v_granted THEN 'admitted' ELSE 'queued' END;
    END IF;
    SELECT count(*) INTO v_waiting FROM {s}.line_entries e
     WHERE line = p_line AND NOT granted AND NOT {s}.line_decided(e.task);
    IF v_waiting >= p_capacity THEN
        RETURN 'full';
    END IF;
    INSERT INTO {s}.line_entries (line, task, holder, priority, seq)
        VALUES (p_line, p_task, p_holder, p_priority, nextval('{s}.line_arrivals'));
    PERFORM {s}.line_grant(p_line);
    SELECT granted INTO v_granted FROM {s}.line_entries WHERE line = p_line AND task = p_task;
    RETURN CASE WHEN v_granted THEN 'admitted' ELSE 'queued' END;
END
$$;

-- Task `p_task` leaves line `p_line`: it gives its permit back (then the next waiter gets
-- it) or its place in the line.
CREATE FUNCTION {s}.line_exit(p_line text, p_task uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_granted boolean;
BEGIN
    PERFORM 1 FROM {s}.lines WHERE name = p_line FOR UPDATE;
    DELETE FROM {s}.line_entries WHERE line = p_line AND task = p_task
        RETURNING granted INTO v_granted;
    IF coalesce(v_granted, false) THEN
        PERFORM {s}.line_grant(p_line);
    END IF;
END
$$;
