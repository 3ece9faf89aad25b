-- costcap PostgreSQL schema, version 1 (see costcap/stores/postgres.py).
--
-- @S@ is replaced by the quoted schema name, @TOMBSTONE_S@ and @SWEEP_EVERY@ by the constants of
-- the Python module. Run once, under the migration's advisory lock, in one transaction.
--
-- Every protocol step is ONE call of one function below: one round trip, one transaction.
-- Lock order, everywhere: a reservation row first (only ever one that may be waited for; expiry
-- takes due reservations with SKIP LOCKED, never waiting), then counter rows one by one in key
-- order (COLLATE "C"), each created if missing. No transaction waits for a row while holding a
-- row that sorts after it, so steps never deadlock.

CREATE TABLE @S@.counters (
    key        text PRIMARY KEY,
    spent      bigint NOT NULL DEFAULT 0,
    reserved   bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL
) WITH (fillfactor = 70);  -- free room on each page keeps counter updates HOT
CREATE INDEX counters_by_expiry ON @S@.counters (expires_at);

CREATE TABLE @S@.reservations (
    id          text PRIMARY KEY,
    keys        text[] NOT NULL,      -- one per charge, in order
    amounts     bigint[] NOT NULL,
    lease_until timestamptz NOT NULL, -- for a tombstone (charged): end of its correction window
    charged     boolean NOT NULL DEFAULT false
);
CREATE INDEX reservations_by_lease ON @S@.reservations (lease_until);

CREATE TABLE @S@.markers (
    marker text PRIMARY KEY,
    until  timestamptz NOT NULL
);
CREATE INDEX markers_by_until ON @S@.markers (until);

-- Lock the counters of p_keys in key order, creating a missing one as (0, 0, expiring at t).
-- A row inserted by a concurrent transaction is waited for (ON CONFLICT), then locked; a row
-- deleted by a concurrent sweep is created again.
CREATE FUNCTION @S@.costcap_lock(p_keys text[], t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    k text;
BEGIN
    FOR k IN SELECT DISTINCT u.k COLLATE "C" FROM unnest(p_keys) AS u(k) ORDER BY 1 LOOP
        LOOP
            PERFORM 1 FROM @S@.counters WHERE key = k FOR UPDATE;
            EXIT WHEN FOUND;
            INSERT INTO @S@.counters (key, expires_at) VALUES (k, t) ON CONFLICT DO NOTHING;
            EXIT WHEN FOUND;
        END LOOP;
    END LOOP;
END $$;

-- Charge every reservation whose lease ran out (reserved -> spent, in full) and keep it as a
-- tombstone for @TOMBSTONE_S@ s; drop tombstones past that. p_extra: more counters to lock in the
-- same ordered pass (the caller's own). Returns how many reservations were charged.
CREATE FUNCTION @S@.costcap_expire_at(t timestamptz, p_extra text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    due text[];
    dead text[];
    ks text[];
BEGIN
    SELECT array_agg(d.id) FILTER (WHERE NOT d.charged), array_agg(d.id) FILTER (WHERE d.charged)
    INTO due, dead
    FROM (SELECT r.id, r.charged FROM @S@.reservations AS r WHERE r.lease_until <= t
          FOR UPDATE SKIP LOCKED) AS d;
    IF dead IS NOT NULL THEN
        DELETE FROM @S@.reservations WHERE id = ANY (dead);
    END IF;
    IF due IS NULL THEN
        PERFORM @S@.costcap_lock(p_extra, t);
        RETURN 0;
    END IF;
    SELECT array_agg(k) INTO ks
    FROM @S@.reservations AS r, unnest(r.keys) AS k WHERE r.id = ANY (due);
    PERFORM @S@.costcap_lock(ks || p_extra, t);
    UPDATE @S@.counters AS c SET reserved = c.reserved - d.amount, spent = c.spent + d.amount
    FROM (SELECT u.k, sum(u.a)::bigint AS amount
          FROM @S@.reservations AS r, unnest(r.keys, r.amounts) AS u(k, a)
          WHERE r.id = ANY (due) GROUP BY u.k) AS d
    WHERE c.key = d.k;
    UPDATE @S@.reservations SET charged = true, lease_until = t + interval '@TOMBSTONE_S@ s'
    WHERE id = ANY (due);
    RETURN cardinality(due);
END $$;

-- The sums over each window. Window keys come flattened: p_wkeys[j] belongs to charge
-- p_wcharge[j] (1-based); p_n charges.
CREATE FUNCTION @S@.costcap_sums(
    p_wkeys text[], p_wcharge integer[], p_n integer, OUT spent bigint[], OUT reserved bigint[]
) LANGUAGE plpgsql STABLE AS $$  -- plpgsql: its plan is cached per session, a SQL one's is not
BEGIN
    SELECT coalesce(array_agg(coalesce(s.spent, 0) ORDER BY i), '{}'),
           coalesce(array_agg(coalesce(s.reserved, 0) ORDER BY i), '{}')
    INTO spent, reserved
    FROM generate_series(1, p_n) AS i
    LEFT JOIN LATERAL (
        SELECT sum(c.spent)::bigint AS spent, sum(c.reserved)::bigint AS reserved
        FROM unnest(p_wkeys, p_wcharge) AS w(key, charge)
        JOIN @S@.counters AS c ON c.key = w.key
        WHERE w.charge = i
    ) AS s ON true;
END $$;

-- Delete stale counters (expired, nothing reserved) and markers, a bounded batch at a time,
-- skipping rows other transactions hold (never waits, so it cannot deadlock).
CREATE FUNCTION @S@.costcap_sweep(t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM @S@.counters WHERE key IN (
        SELECT key FROM @S@.counters WHERE expires_at <= t AND reserved = 0
        LIMIT 10000 FOR UPDATE SKIP LOCKED);
    DELETE FROM @S@.markers WHERE marker IN (
        SELECT marker FROM @S@.markers WHERE until <= t LIMIT 10000 FOR UPDATE SKIP LOCKED);
END $$;

-- admit: expire, lock every counter of every window (and the charged ones) in key order, check
-- each hard charge against its window, then reserve all or nothing. Returns the sums before the
-- step; refused is the 0-based index of the first hard charge that did not fit.
CREATE FUNCTION @S@.costcap_admit(
    p_id text, p_keys text[], p_wkeys text[], p_wcharge integer[], p_limits bigint[],
    p_amounts bigint[], p_hard boolean[], p_ttls integer[], p_lease double precision,
    OUT admitted boolean, OUT refused integer, OUT spent bigint[], OUT reserved bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
    n integer := coalesce(cardinality(p_keys), 0);
BEGIN
    PERFORM @S@.costcap_expire_at(t, p_wkeys || p_keys);
    IF EXISTS (SELECT 1 FROM @S@.reservations WHERE id = p_id) THEN
        RAISE unique_violation USING MESSAGE = format('reservation id %L is already in use', p_id);
    END IF;
    SELECT s.spent, s.reserved INTO spent, reserved
    FROM @S@.costcap_sums(p_wkeys, p_wcharge, n) AS s;
    FOR i IN 1 .. n LOOP
        IF p_hard[i] AND spent[i] + reserved[i] + p_amounts[i] > p_limits[i] THEN
            admitted := false;
            refused := i - 1;
            RETURN;
        END IF;
    END LOOP;
    -- expires_at: at least ttl after this write; bumped with some slack, so that most updates
    -- leave the indexed column alone and stay HOT
    UPDATE @S@.counters AS c SET
        reserved = c.reserved + d.amount,
        expires_at = CASE WHEN c.expires_at >= t + d.ttl THEN c.expires_at
                          ELSE t + d.ttl + least(d.ttl / 16, interval '1 hour') END
    FROM (SELECT u.k, sum(u.a)::bigint AS amount, make_interval(secs => max(u.ttl)) AS ttl
          FROM unnest(p_keys, p_amounts, p_ttls) AS u(k, a, ttl) GROUP BY u.k) AS d
    WHERE c.key = d.k;
    INSERT INTO @S@.reservations (id, keys, amounts, lease_until)
    VALUES (p_id, p_keys, p_amounts, t + make_interval(secs => p_lease));
    IF random() < 1.0 / @SWEEP_EVERY@ THEN
        PERFORM @S@.costcap_sweep(t);
    END IF;
    admitted := true;
END $$;

-- settle (p_actuals) or release (p_actuals NULL: nothing spent). A live reservation moves from
-- reserved to its actuals; a tombstone (already charged in full) corrects spent by actual - amount.
CREATE FUNCTION @S@.costcap_settle(p_id text, p_actuals bigint[]) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
    r @S@.reservations;
BEGIN
    DELETE FROM @S@.reservations WHERE id = p_id RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_actuals IS NOT NULL
       AND coalesce(cardinality(p_actuals), 0) <> coalesce(cardinality(r.keys), 0) THEN
        RAISE invalid_parameter_value USING MESSAGE = format(
            '%s actuals for %s charges', coalesce(cardinality(p_actuals), 0),
            coalesce(cardinality(r.keys), 0));
    END IF;
    PERFORM @S@.costcap_lock(r.keys, t);
    UPDATE @S@.counters AS c SET spent = c.spent + d.spent, reserved = c.reserved - d.reserved
    FROM (SELECT u.k,
                 sum(coalesce(p_actuals[u.i], 0) - CASE WHEN r.charged THEN u.a ELSE 0 END)::bigint
                     AS spent,
                 sum(CASE WHEN r.charged THEN 0 ELSE u.a END)::bigint AS reserved
          FROM unnest(r.keys, r.amounts) WITH ORDINALITY AS u(k, a, i) GROUP BY u.k) AS d
    WHERE c.key = d.k;
    RETURN true;
END $$;

CREATE FUNCTION @S@.costcap_extend(p_id text, p_lease double precision) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    UPDATE @S@.reservations SET lease_until = t + make_interval(secs => p_lease)
    WHERE id = p_id AND NOT charged AND lease_until > t;
    RETURN FOUND;
END $$;

CREATE FUNCTION @S@.costcap_expire() RETURNS integer
LANGUAGE sql AS $$
    SELECT @S@.costcap_expire_at(clock_timestamp(), '{}')
$$;

CREATE FUNCTION @S@.costcap_read(
    p_wkeys text[], p_wcharge integer[], p_n integer, OUT spent bigint[], OUT reserved bigint[]
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM @S@.costcap_expire_at(clock_timestamp(), '{}');
    SELECT s.spent, s.reserved INTO spent, reserved
    FROM @S@.costcap_sums(p_wkeys, p_wcharge, p_n) AS s;
END $$;

CREATE FUNCTION @S@.costcap_mark_once(p_marker text, p_ttl integer) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    INSERT INTO @S@.markers AS m (marker, until) VALUES (p_marker, t + make_interval(secs => p_ttl))
    ON CONFLICT (marker) DO UPDATE SET until = excluded.until WHERE m.until <= t;
    RETURN FOUND;
END $$;
