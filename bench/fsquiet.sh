# Sourced by bench scripts (POSIX sh): wait until creating a file is cheap.
#
# On an ext4 without a journal (this VM's root: /proc/fs/jbd2 is empty),
# ext4 will not reuse a recently deleted inode (fs/ext4/ialloc.c,
# recently_deleted) and scans past every one, so for a minute or more
# after an rm -rf of a few thousand files creating a file costs up to 30
# times more (perf: find_inode_bit -> recently_deleted; docs/performance.md,
# Layers). A timed row that follows a deletion pays for it; benches delete
# nothing between rows and call fs_quiet before their rounds.

# fs_probe DIR: creates DIR and 300 empty files in it; prints the system
# time per file in ms.
fs_probe() {
	python3 -c 'import os, sys, resource
d = sys.argv[1]; os.makedirs(d)
s = resource.getrusage(resource.RUSAGE_SELF).ru_stime
for i in range(300): os.close(os.open(os.path.join(d, str(i)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
print("%.3f" % ((resource.getrusage(resource.RUSAGE_SELF).ru_stime - s) * 1000 / 300))' "$1"
}

# fs_quiet DIR: probes in DIR/probe-N every 10 s until creating a file has
# cost under 0.035 ms for four probes in a row (30 s), at most 30 probes
# (five minutes); prints the last cost and the wait. The cost climbs for
# some seconds after an rm -rf before it falls, so one cheap probe is not
# enough. DIR must be on the file system the bench writes to, and is left
# for the caller to remove (at its end).
fs_quiet() {
	fsq_cheap=0 fsq_i=0
	while [ "$fsq_i" -lt 30 ]; do
		fsq_i=$((fsq_i + 1))
		fsq_c=$(fs_probe "$1/probe-$$-$fsq_i-$(date +%s%N)")
		if [ "$(echo "$fsq_c < 0.035" | bc)" = 1 ]; then fsq_cheap=$((fsq_cheap + 1)); else fsq_cheap=0; fi
		[ "$fsq_cheap" -ge 4 ] && break
		sleep 10
	done
	echo "creating a file: $fsq_c ms of system time (after $(((fsq_i - 1) * 10)) s)"
}
