#!lua name=flowgate
-- The flowgate function library (events/redis_log.h). Loaded by every node at start
-- (FUNCTION LOAD REPLACE): a node of this version brings its own.
--
-- fg_publish: KEYS fg:seq, fg:ids, fg:log, fg:runs; ARGV enforce (0|1), received_us, n, then
-- per event: id, run_id ('' when none), from (-1 when none), to (-1 when none), json.
-- Returns {'ok', seq1, dup1, known1, seq2, ...}: dup 1 when the id was stored before (seq is
-- that event's); known >= 0 when the run was in another status than the event's `from` (warn
-- mode stores it anyway). In enforce mode such an event makes the whole batch
-- {'conflict', index (0-based), known}; nothing is written.
local function publish(keys, args)
  local enforce = args[1] == '1'
  local received = args[2]
  local n = tonumber(args[3])
  local out = {'ok'}
  local status = {}   -- run -> status within this batch
  local seen = {}     -- id -> index of the first event in this batch with it
  local fresh = {}    -- indexes of the new events
  for i = 0, n - 1 do
    local b = 4 + i * 5
    local id, run = args[b], args[b + 1]
    local from, to = tonumber(args[b + 2]), tonumber(args[b + 3])
    local known = -1
    local old = redis.call('HGET', keys[2], id)
    if old then
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = tonumber(old), 1, -1
    elseif seen[id] then
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = -1 - seen[id], 1, -1
    else
      seen[id] = i
      if from >= 0 and run ~= '' then
        local k = status[run]
        if k == nil then
          local v = redis.call('HGET', keys[4], run)
          if v then k = tonumber(v) end
        end
        if k ~= nil and k ~= from then
          if enforce then return {'conflict', i, k} end
          known = k
        end
      end
      if to >= 0 and run ~= '' then status[run] = to end
      fresh[#fresh + 1] = i
      out[2 + i * 3], out[3 + i * 3], out[4 + i * 3] = 0, 0, known
    end
  end
  if #fresh > 0 then
    local first = redis.call('INCRBY', keys[1], #fresh) - #fresh + 1
    for k, i in ipairs(fresh) do
      local b = 4 + i * 5
      local seq = first + k - 1
      out[2 + i * 3] = seq
      redis.call('XADD', keys[3], seq .. '-0', 'j', args[b + 4], 'r', received)
      redis.call('HSET', keys[2], args[b], seq)
      local to = tonumber(args[b + 3])
      if to >= 0 and args[b + 1] ~= '' then redis.call('HSET', keys[4], args[b + 1], to) end
    end
  end
  -- a repeat inside the batch gets its first's number
  for i = 0, n - 1 do
    local s = out[2 + i * 3]
    if s < 0 then out[2 + i * 3] = out[2 + (-1 - s) * 3] end
  end
  return out
end

redis.register_function('fg_publish', publish)
