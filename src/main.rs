// mimalloc: under sustained ingest glibc's per-thread arenas held ~45% of the RSS as
// fragmentation (555 MB at 150k alerts; 380 MB with two arenas, at a fifth less
// throughput).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    corerecon::cli::main()
}
