#!lua name=flowgate
-- The flowgate function library (events/redis_log.h). Loaded by every node at start
-- (FUNCTION LOAD REPLACE): a node of this version brings its own.
--
-- fg_publish: KEYS fg:seq, fg:ids, fg:log, fg:runs; ARGV enforce (0|1), received_us, n, then
-- per event: id, run_id ('' when none), from (-1 when none), to (-1 when none), json.
-- The new events of a call are one stream entry whose id is the last one's seq (<last>-0), with
-- fields f (the first's seq), r (received_us) and one j (the event) per event in order: one XADD
-- and two hash writes per call, however many events. A reader after seq N gets every entry that
-- holds an event above N (ids grow with the last seq) and skips the events it has.
-- Returns {'ok', seq1, dup1, known1, seq2, ...}: dup 1 when the id was stored before (seq is
-- that event's); known >= 0 when the run was in another status than the event's `from` (warn
-- mode stores it anyway). In enforce mode such an event makes the whole batch
-- {'conflict', index (0-based), known}; nothing is written.
local function publish(keys, args)
  local enforce = args[1] == '1'
  local received = args[2]
  local n = tonumber(args[3])
  local out = {'ok'}
  local ids, runs = {}, {}
  for i = 0, n - 1 do
    ids[i + 1] = args[4 + i * 5]
    runs[i + 1] = args[5 + i * 5]
  end
  local old = redis.call('HMGET', keys[2], unpack(ids))
  local status = {}   -- run -> status, read once, then as this batch moves it
  local changed = {}  -- runs whose status this batch moves
  local seen = {}     -- id -> index of the first event in this batch with it
  local fresh = {}    -- indexes of the new events
  for i = 0, n - 1 do
    local b = 4 + i * 5
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
    local entry, idx, moved = {'f', first, 'r', received}, {}, {}
    for k, i in ipairs(fresh) do
      local seq = first + k - 1
      out[2 + i * 3] = seq
      entry[#entry + 1] = 'j'
      entry[#entry + 1] = args[4 + i * 5 + 4]
      idx[#idx + 1] = ids[i + 1]
      idx[#idx + 1] = seq
    end
    redis.call('XADD', keys[3], (first + #fresh - 1) .. '-0', unpack(entry))
    redis.call('HSET', keys[2], unpack(idx))
    for run in pairs(changed) do
      moved[#moved + 1] = run
      moved[#moved + 1] = status[run]
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
