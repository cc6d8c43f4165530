#!lua name=flowgate
-- The flowgate function library (events/redis_log.h). Loaded by every node at start
-- (FUNCTION LOAD REPLACE): a node of this version brings its own.
--
-- fg_publish: KEYS fg:seq, fg:ids, fg:log, fg:runs, fg:epoch; ARGV enforce (0|1), received_us,
-- m (jobs: each one publish request, all or nothing on its own), then per job its n and per
-- event: id, run_id ('' when none), from (-1 when none), to (-1 when none), header
-- (what a reader needs without parsing the event: type, from, to, run_id, step_id, id, workflow,
-- tab-separated), json,
-- and last the epoch the caller joined: {'epoch', current} when fg:epoch is another (the caller
-- joins again: fg_join).
-- The new events of a call are one stream entry (one per 1,000 events) whose id is the last one's
-- seq (<last>-0), with
-- fields f (the first's seq), r (received_us) and, per event in order, h (its header) and j (the
-- event): one XADD
-- and two hash writes per call, however many events. A reader after seq N gets every entry that
-- holds an event above N (ids grow with the last seq) and skips the events it has.
-- Returns {'jobs', r1, r2, ...}, per job {'ok', seq1, dup1, known1, seq2, ...}: dup 1 when the
-- id was stored before (seq is that event's); known >= 0 when the run was in another status than
-- the event's `from` (warn mode stores it anyway). In enforce mode such an event makes its job
-- {'conflict', index (0-based), known}: nothing of that job is written, the others go on.
local CHUNK = 1000 -- events per stream entry, ids per hash command

local function publish(keys, args)
  -- the log this node joined: another epoch (or none) means Redis lost it; never number on
  local epoch = redis.call('GET', keys[5])
  if epoch ~= args[#args] then return {'epoch', epoch or ''} end
  local enforce = args[1] == '1'
  local received = args[2]
  local m = tonumber(args[3])
  -- the jobs, and every event id for one read of the index
  local jobs, ids, runs, at = {}, {}, {}, 4
  for j = 1, m do
    local n = tonumber(args[at])
    jobs[j] = {base = at + 1, n = n, first = #ids}
    for i = 0, n - 1 do
      ids[#ids + 1] = args[at + 1 + i * 6]
      runs[#runs + 1] = args[at + 2 + i * 6]
    end
    at = at + 1 + n * 6
  end
  local old = {}
  for c = 1, #ids, CHUNK do
    local part = redis.call('HMGET', keys[2], unpack(ids, c, math.min(c + CHUNK - 1, #ids)))
    for k = 1, #part do old[c + k - 1] = part[k] end
  end
  local status = {}   -- run -> status: as stored, then as accepted jobs move it (false: none)
  local changed = {}  -- runs whose status accepted jobs move
  local seen = {}     -- ids new in accepted jobs
  local fresh = {}    -- {job, i} of the new events of accepted jobs, in order
  local results = {'jobs'}
  for j = 1, m do
    local job = jobs[j]
    local out = {'ok'}
    local tstatus, tseen, tfresh = {}, {}, {}
    local conflict
    for i = 0, job.n - 1 do
      local b = job.base + i * 6
      local id, run = ids[job.first + i + 1], runs[job.first + i + 1]
      local from, to = tonumber(args[b + 2]), tonumber(args[b + 3])
      local known = -1
      local stored = old[job.first + i + 1]
      if stored then
        out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = tonumber(stored), 1, -1
      elseif seen[id] or tseen[id] then
        out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = id, 1, -1 -- its first's number, below
      else
        tseen[id] = true
        if from >= 0 and run ~= '' then
          local k = tstatus[run]
          if k == nil then k = status[run] end
          if k == nil then
            local v = redis.call('HGET', keys[4], run)
            k = v and tonumber(v) or false
            status[run] = k
          end
          if k and k ~= from then
            if enforce then conflict = {'conflict', i, k}; break end
            known = k
          end
        end
        if to >= 0 and run ~= '' then tstatus[run] = to end
        tfresh[#tfresh + 1] = i
        out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = 0, 0, known
      end
    end
    if conflict then
      results[j + 1] = conflict -- nothing of this job is kept
    else
      for run, st in pairs(tstatus) do status[run] = st; changed[run] = true end
      for id in pairs(tseen) do seen[id] = true end
      for _, i in ipairs(tfresh) do fresh[#fresh + 1] = {j, i} end
      results[j + 1] = out
    end
  end
  local numbered = {} -- id -> seq of the events numbered now
  if #fresh > 0 then
    local first = redis.call('INCRBY', keys[1], #fresh) - #fresh + 1
    -- entries of at most CHUNK events (Lua's unpack takes a few thousand values at most)
    for c = 1, #fresh, CHUNK do
      local last = math.min(c + CHUNK - 1, #fresh)
      local entry, idx = {'f', first + c - 1, 'r', received}, {}
      for k = c, last do
        local j, i = fresh[k][1], fresh[k][2]
        local b, seq = jobs[j].base + i * 6, first + k - 1
        local id = ids[jobs[j].first + i + 1]
        results[j + 1][2 + i * 3] = seq
        numbered[id] = seq
        entry[#entry + 1] = 'h'
        entry[#entry + 1] = args[b + 4]
        entry[#entry + 1] = 'j'
        entry[#entry + 1] = args[b + 5]
        idx[#idx + 1] = id
        idx[#idx + 1] = seq
      end
      redis.call('XADD', keys[3], (first + last - 1) .. '-0', unpack(entry))
      redis.call('HSET', keys[2], unpack(idx))
    end
    local moved = {}
    for run in pairs(changed) do
      moved[#moved + 1] = run
      moved[#moved + 1] = status[run]
      if #moved >= 2 * CHUNK then
        redis.call('HSET', keys[4], unpack(moved))
        moved = {}
      end
    end
    if #moved > 0 then redis.call('HSET', keys[4], unpack(moved)) end
  end
  -- a repeat of an id numbered in this call gets that number
  for j = 1, m do
    local out = results[j + 1]
    if out[1] == 'ok' then
      for i = 0, jobs[j].n - 1 do
        if type(out[2 + i * 3]) == 'string' then out[2 + i * 3] = numbered[out[2 + i * 3]] end
      end
    end
  end
  return results
end

redis.register_function('fg_publish', publish)

-- fg_trim: KEYS fg:log, fg:ids, fg:purged; ARGV upto (events at or below it go), before (entries
-- received before it go; 0: no age rule), limit (entries looked at). Removes whole entries from
-- the oldest on while a rule holds, with their events' ids from the idempotency index (the
-- window of idempotency is the log's retention), and raises fg:purged. Returns the new floor (0:
-- nothing removed).
local function trim(keys, args)
  local upto, before, limit = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  local entries = redis.call('XRANGE', keys[1], '-', '+', 'COUNT', limit)
  local cut, dead = 0, {}
  for _, e in ipairs(entries) do
    local last = tonumber(string.match(e[1], '^(%d+)-'))
    local received, events = 0, {}
    for k = 1, #e[2], 2 do
      if e[2][k] == 'r' then received = tonumber(e[2][k + 1]) or 0
      elseif e[2][k] == 'j' then events[#events + 1] = e[2][k + 1] end
    end
    if not last or not (last <= upto or (before > 0 and received < before)) then break end
    for _, j in ipairs(events) do
      local ok, ev = pcall(cjson.decode, j)
      if ok and type(ev) == 'table' and type(ev.id) == 'string' then dead[#dead + 1] = ev.id end
    end
    cut = last
  end
  if cut == 0 then return 0 end
  redis.call('XTRIM', keys[1], 'MINID', (cut + 1) .. '-0')
  for i = 1, #dead, 1000 do
    redis.call('HDEL', keys[2], unpack(dead, i, math.min(i + 999, #dead)))
  end
  if cut > tonumber(redis.call('GET', keys[3]) or '0') then redis.call('SET', keys[3], cut) end
  return cut
end

redis.register_function('fg_trim', trim)

-- fg_join: KEYS fg:epoch, fg:seq; ARGV a new epoch, the highest seq the caller holds. Creates the
-- epoch when there is none (a new log, or one Redis lost), and raises the counter to what the
-- caller holds, so no number a node ever applied is given out again. Returns {epoch, created}.
local function join(keys, args)
  local created = 0
  local epoch = redis.call('GET', keys[1])
  if not epoch then
    redis.call('SET', keys[1], args[1])
    epoch, created = args[1], 1
  end
  local held = tonumber(args[2])
  if held > tonumber(redis.call('GET', keys[2]) or '0') then redis.call('SET', keys[2], held) end
  return {epoch, created}
end

redis.register_function('fg_join', join)

-- fg_control: KEYS fg:seq, fg:log, fg:epoch, and a lease key when the entry is fenced; ARGV the
-- epoch the caller joined, kind, body, origin ("<node>/<nonce>"), at_us, and the lease's
-- expected value when fenced. Appends a control entry (replicated.h): no event, no number; its
-- id is <current seq>-<n> (n from 1), so it sits after the events numbered before it and before
-- every later one. Fields c (kind), b (body), n (origin), r (at_us).
-- Returns {'ok', id}, {'epoch', current} or {'fenced'} (the lease is another's: nothing written).
local function control(keys, args)
  local epoch = redis.call('GET', keys[3])
  if epoch ~= args[1] then return {'epoch', epoch or ''} end
  if keys[4] and redis.call('GET', keys[4]) ~= args[6] then return {'fenced'} end
  local seq = redis.call('GET', keys[1]) or '0'
  local id = redis.call('XADD', keys[2], seq .. '-*', 'c', args[2], 'b', args[3], 'n', args[4],
                        'r', args[5])
  return {'ok', id}
end

redis.register_function('fg_control', control)

-- fg_lease: KEYS the lease key, fg:lease:tokens; ARGV node, the token the caller holds (0: none),
-- ttl_ms. A lease's value is "<node>:<token>", the token growing with every grant (the fence a
-- stale holder's control entries are refused by). Renews it when the caller holds it, grants it
-- with a new token when it is free. Returns the token held now, or 0 (another node holds it).
local function lease(keys, args)
  local cur = redis.call('GET', keys[1])
  if cur then
    if args[2] ~= '0' and cur == args[1] .. ':' .. args[2] then
      redis.call('PEXPIRE', keys[1], args[3])
      return tonumber(args[2])
    end
    return 0
  end
  local token = redis.call('INCR', keys[2])
  redis.call('SET', keys[1], args[1] .. ':' .. token, 'PX', args[3])
  return token
end

redis.register_function('fg_lease', lease)

-- fg_unlease: KEYS the lease key; ARGV its value as held. Lets it go (when still held so).
local function unlease(keys, args)
  if redis.call('GET', keys[1]) == args[1] then return redis.call('DEL', keys[1]) end
  return 0
end

redis.register_function('fg_unlease', unlease)

-- fg_nodes: KEYS fg:nodes; ARGV node, ttl_ms (0: the node leaves). The live nodes: a sorted set
-- of node -> when its presence lapses (Redis's clock); the caller's is renewed. Returns how many
-- are live.
local function nodes(keys, args)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', now)
  if tonumber(args[2]) > 0 then
    redis.call('ZADD', keys[1], now + tonumber(args[2]), args[1])
  else
    redis.call('ZREM', keys[1], args[1])
  end
  return redis.call('ZCARD', keys[1])
end

redis.register_function('fg_nodes', nodes)
