import sys, collections
self_t, incl = collections.Counter(), collections.Counter()
total = 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n); total += n
    frames = stack.split(";")
    self_t[frames[-1]] += n
    for f in set(frames):
        incl[f] += n
print("total samples", total)
print("== self")
for f, n in self_t.most_common(25): print(f"{n/total*100:5.1f}% {f}")
print("== inclusive")
key = sys.argv[2] if len(sys.argv) > 2 else ""
for f, n in incl.most_common(200):
    if key in f: print(f"{n/total*100:5.1f}% {f}")
