fn main() -> std::process::ExitCode {
    cwfix::cli::main()
}
