-- Pauses (ARGV[3] = '1') or resumes (ARGV[3] = '0') claims from the queue. Resuming
-- wakes waiting workers.
if ARGV[3] == '1' then
  redis.call('SET', pre .. 'paused', '1')
else
  if redis.call('DEL', pre .. 'paused') == 1 then
    wake()
  end
end
return 1
