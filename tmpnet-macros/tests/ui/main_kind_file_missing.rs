// A kind file `main!` names must exist when the suite is built: it is
// compiled in.
tmpnet_fixture::main!(kind_file = "tests/ui/no-such-kind.toml");
