fn main() -> std::process::ExitCode {
    corerecon::cli::main()
}
