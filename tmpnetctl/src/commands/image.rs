//! `tmpnetctl image`: a suite's runner image, a kind file's node image.

use std::process::ExitCode;

use tmpnet_fixture::images::{self, Built, NodeImage, SuiteImage};
use tmpnet_fixture::Result;

use crate::cli::ImageCommand;
use crate::output::{note, out};

/// Builds the image asked for and prints its name and id.
pub fn run(command: ImageCommand) -> Result<ExitCode> {
    let progress = |step: &str| note!("{step}");
    let (built, loads) = match command {
        ImageCommand::Suite(args) => {
            let suite = SuiteImage {
                manifest_path: args.manifest_path,
                packages: args.packages,
                features: args.features,
                locked: args.locked,
                files: args.files,
                tag: args.tag,
                tool: args.out.tool,
                loads: args.out.loads.clone(),
            };
            (images::build_suite(&suite, &progress)?, args.out.loads)
        }
        ImageCommand::Node(args) => {
            let node = NodeImage {
                kind_file: args.kind_file,
                binary: args.binary,
                debs: args.debs,
                tag: args.tag,
                tool: args.out.tool,
                loads: args.out.loads.clone(),
            };
            (images::build_node(&node, &progress)?, args.out.loads)
        }
    };
    report(&built, &loads)?;
    Ok(ExitCode::SUCCESS)
}

fn report(built: &Built, loads: &[images::Load]) -> Result<()> {
    for item in &built.contents {
        note!("  {item}");
    }
    for place in loads {
        note!("loaded into {place}");
    }
    if let Some(context) = &built.context {
        note!("build context: {}", context.display());
    }
    out!("{} {}", built.tag, built.id);
    Ok(())
}
