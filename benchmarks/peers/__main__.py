"""`python -m benchmarks.peers [--quick] [--peers rejax,sbx,sb3] [--sequential-runs K]` → `benchmarks/peers.md` + `.png`."""

from benchmarks.peers import main, parse_args

if __name__ == "__main__":
    args = parse_args()
    print(main(args.quick, peers=args.peers, sequential_runs=args.sequential_runs))
