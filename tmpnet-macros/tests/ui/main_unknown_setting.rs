// `main!` names the settings it knows when given another.
tmpnet_fixture::main!(nodes = 3, node = 3);
