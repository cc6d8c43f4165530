#!lua name=flowgate
-- The flowgate function library (events/redis_log.h). Loaded by every node at start
-- (FUNCTION LOAD REPLACE): a node of this version brings its own.
--
-- fg_publish: KEYS fg:seq, fg:ids, fg:log, fg:runs, fg:epoch; ARGV enforce (0|1), received_us,
-- n, then per event: id, run_id ('' when none), from (-1 when none), to (-1 when none), header
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
-- Returns {'ok', seq1, dup1, known1, seq2, ...}: dup 1 when the id was stored before (seq is
-- that event's); known >= 0 when the run was in another status than the event's `from` (warn
-- mode stores it anyway). In enforce mode such an event makes the whole batch
-- {'conflict', index (0-based), known}; nothing is written.
local CHUNK = 1000 -- events per stream entry, ids per hash command

local function publish(keys, args)
  -- the log this node joined: another epoch (or none) means Redis lost it; never number on
  local epoch = redis.call('GET', keys[5])
  if epoch ~= args[#args] then return {'epoch', epoch or ''} end
  local enforce = args[1] == '1'
  local received = args[2]
  local n = tonumber(args[3])
  local out = {'ok'}
  local ids, runs = {}, {}
  for i = 0, n - 1 do
    ids[i + 1] = args[4 + i * 6]
    runs[i + 1] = args[5 + i * 6]
  end
  local old = {}
  for c = 1, n, CHUNK do
    local part = redis.call('HMGET', keys[2], unpack(ids, c, math.min(c + CHUNK - 1, n)))
    for k = 1, #part do old[c + k - 1] = part[k] end
  end
  local status = {}   -- run -> status, read once, then as this batch moves it
  local changed = {}  -- runs whose status this batch moves
  local seen = {}     -- id -> index of the first event in this batch with it
  local fresh = {}    -- indexes of the new events
  for i = 0, n - 1 do
    local b = 4 + i * 6
    local id, run = ids[i + 1], runs[i + 1]
    local from, to = tonumber(args[b + 2]), tonumber(args[b + 3])
    local known = -1
    if old[i + 1] then
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = tonumber(old[i + 1]), 1, -1
    elseif seen[id] then
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = -1 - seen[id], 1, -1
    else
      seen[id] = i
      if from >= 0 and run ~= '' then
        local k = status[run]
        if k == nil then
          local v = redis.call('HGET', keys[4], run)
          k = v and tonumber(v) or false
          status[run] = k
        end
        if k and k ~= from then
          if enforce then return {'conflict', i, k} end
          known = k
        end
      end
      if to >= 0 and run ~= '' then status[run] = to; changed[run] = true end
      fresh[#fresh + 1] = i
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = 0, 0, known
    end
  end
  if #fresh > 0 then
    local first = redis.call('INCRBY', keys[1], #fresh) - #fresh + 1
    -- entries of at most CHUNK events (Lua's unpack takes a few thousand values at most)
    for c = 1, #fresh, CHUNK do
      local last = math.min(c + CHUNK - 1, #fresh)
      local entry, idx = {'f', first + c - 1, 'r', received}, {}
      for k = c, last do
        local i, seq = fresh[k], first + k - 1
        out[2 + i * 3] = seq
        entry[#entry + 1] = 'h'
        entry[#entry + 1] = args[4 + i * 6 + 4]
        entry[#entry + 1] = 'j'
        entry[#entry + 1] = args[4 + i * 6 + 5]
        idx[#idx + 1] = ids[i + 1]
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
  -- a repeat inside the batch gets its first's number
  for i = 0, n - 1 do
    local s = out[2 + i * 3]
    if s < 0 then out[2 + i * 3] = out[2 + (-1 - s) * 3] end
  end
  return out
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
