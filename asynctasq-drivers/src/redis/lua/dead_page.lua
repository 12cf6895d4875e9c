-- Dead jobs ranked ARGV[3]..ARGV[4] (inclusive), newest failure first (ties: larger
-- id first). Returns id, failed_at (ms) pairs.
return redis.call('ZREVRANGE', pre .. 'dead', ARGV[3], ARGV[4], 'WITHSCORES')
