-- costcap PostgreSQL schema, version 2 (see costcap/stores/postgres.py): charges that a lease
-- running out releases instead of spending (Charge.on_expiry = "release", concurrency slots).
--
-- Applied after postgres_v1.sql, under the same advisory lock, in the same kind of transaction;
-- the same placeholders. Lock order and the one-call-per-step rule are those of version 1.
--
-- reservations.spend_on_expiry[i] says what expiry does with charge i: true moves its amount
-- from reserved to spent, false only frees it. NULL (rows written before this version, or by an
-- admit that passes no flags) or a NULL element means true: version 1 spent everything.
-- What expiry charged to spent, per charge, is therefore
--     CASE WHEN coalesce(spend_on_expiry[i], true) THEN amounts[i] ELSE 0 END
-- and a late settle adds actual - that, a late release subtracts it.

-- Nullable, no default: a catalog-only change, no table rewrite; open reservations keep NULL.
ALTER TABLE @S@.reservations ADD COLUMN spend_on_expiry boolean[];

-- Expire every reservation whose lease ran out: each charge leaves reserved, and a "spend" one
-- goes to spent; keep it as a tombstone for @TOMBSTONE_S@ s; drop tombstones past that.
-- p_extra: more counters to lock in the same ordered pass (the caller's own). Returns how many
-- reservations expired. Same signature as version 1, replaced in place.
CREATE OR REPLACE FUNCTION @S@.costcap_expire_at(t timestamptz, p_extra text[]) RETURNS integer
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
    UPDATE @S@.counters AS c SET reserved = c.reserved - d.amount, spent = c.spent + d.spend
    FROM (SELECT u.k, sum(u.a)::bigint AS amount,
                 sum(CASE WHEN coalesce(r.spend_on_expiry[u.i], true) THEN u.a ELSE 0 END)::bigint
                     AS spend
          FROM @S@.reservations AS r, unnest(r.keys, r.amounts) WITH ORDINALITY AS u(k, a, i)
          WHERE r.id = ANY (due) GROUP BY u.k) AS d
    WHERE c.key = d.k;
    UPDATE @S@.reservations SET charged = true, lease_until = t + interval '@TOMBSTONE_S@ s'
    WHERE id = ANY (due);
    RETURN cardinality(due);
END $$;

-- admit gains p_spend (one flag per charge, true: spend on expiry). It defaults to NULL (all
-- spend), so a version-1 caller's nine-argument call, e.g. from a replica still running the older
-- costcap during a rolling upgrade, resolves to this function and behaves as before. The old
-- function is dropped first: a tenth argument is a new signature, not a replacement.
DROP FUNCTION @S@.costcap_admit(
    text, text[], text[], integer[], bigint[], bigint[], boolean[], integer[], double precision);

-- admit: expire, lock every counter of every window (and the charged ones) in key order, check
-- each hard charge against its window, then reserve all or nothing. Returns the sums before the
-- step; refused is the 0-based index of the first hard charge that did not fit.
CREATE FUNCTION @S@.costcap_admit(
    p_id text, p_keys text[], p_wkeys text[], p_wcharge integer[], p_limits bigint[],
    p_amounts bigint[], p_hard boolean[], p_ttls integer[], p_lease double precision,
    p_spend boolean[] DEFAULT NULL,
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
    INSERT INTO @S@.reservations (id, keys, amounts, spend_on_expiry, lease_until)
    VALUES (p_id, p_keys, p_amounts, p_spend, t + make_interval(secs => p_lease));
    IF random() < 1.0 / @SWEEP_EVERY@ THEN
        PERFORM @S@.costcap_sweep(t);
    END IF;
    admitted := true;
END $$;

-- settle (p_actuals) or release (p_actuals NULL: nothing spent). A live reservation moves from
-- reserved to its actuals; a tombstone corrects spent by actual - what expiry charged (the amount
-- of a "spend" charge, 0 for a "release" one). Same signature as version 1, replaced in place.
CREATE OR REPLACE FUNCTION @S@.costcap_settle(p_id text, p_actuals bigint[]) RETURNS boolean
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
                 sum(coalesce(p_actuals[u.i], 0)
                     - CASE WHEN r.charged AND coalesce(r.spend_on_expiry[u.i], true) THEN u.a
                            ELSE 0 END)::bigint AS spent,
                 sum(CASE WHEN r.charged THEN 0 ELSE u.a END)::bigint AS reserved
          FROM unnest(r.keys, r.amounts) WITH ORDINALITY AS u(k, a, i) GROUP BY u.k) AS d
    WHERE c.key = d.k;
    RETURN true;
END $$;
