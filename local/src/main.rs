//! `cargo run -p local`: every function on 127.0.0.1:3000 with embedded storage.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use shared::Config;

#[derive(Parser)]
#[command(
    about = "Runs the user platform locally: every Lambda function behind an emulated API Gateway"
)]
struct Cli {
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 3000, global = true)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    host: IpAddr,
    /// Folder for embedded data (overrides DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Serve the API under this path as well, as a custom domain's API
    /// mapping does on AWS (e.g. `api/v1`); repeatable.
    #[arg(long = "base-path", value_name = "PATH", global = true)]
    base_paths: Vec<local::BasePath>,
    /// Run each function's binary as its own process under a Lambda Runtime
    /// API emulator (what `sam local start-api` does, without Docker),
    /// building them first unless --lambda-dir names them.
    #[arg(long)]
    lambda: bool,
    /// Take the function binaries from this folder (implies --lambda).
    #[arg(long, value_name = "DIR")]
    lambda_dir: Option<PathBuf>,
    /// The cargo profile --lambda builds: `release` (what `sam build`
    /// deploys) or `dev` (faster to build).
    #[arg(long, default_value = "release", value_parser = ["release", "dev"])]
    lambda_profile: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Make an existing user an admin (the admin bootstrap).
    MakeAdmin { email: String },
    /// Print a new Ed25519 private key (PEM) for JWT_PRIVATE_KEY.
    GenKey,
    /// Print the public JWKS of the private key (PEM) read from standard
    /// input: the template's JwtPublicJwks, JWT_PUBLIC_JWKS of the functions
    /// that only verify.
    PublicJwks,
    /// Print an env-vars file for `sam local invoke|start-api --env-vars`:
    /// this command's configuration (e.g. moto's, after `provision`), with
    /// the public keys of the key in JWT_PRIVATE_KEY_SECRET.
    SamEnv,
    /// Create the table, bucket and queues on AWS_ENDPOINT_URL (e.g. moto)
    /// as a CloudFormation stack of template.yaml's own definitions, verify
    /// the sender, and put a new signing key in Secrets Manager; prints
    /// their names as `export` lines.
    Provision,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    edge::runtime::init_tracing();
    let cli = Cli::parse();
    let mut config = Config::from_env()?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::GenKey => {
            print!("{}", shared::tokens::generate_private_key_pem());
            Ok(())
        }
        Command::PublicJwks => {
            let mut pem = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut pem)?;
            println!("{}", shared::tokens::TokenKeys::public_jwks_of(&pem)?);
            Ok(())
        }
        Command::MakeAdmin { email } => make_admin(config, &email).await,
        Command::SamEnv => {
            // Login and refresh read the key from its secret (the template
            // tells them alone its name); every function gets its public half.
            let secret = config
                .jwt_private_key_secret
                .clone()
                .ok_or("set JWT_PRIVATE_KEY_SECRET (`provision` prints it)")?;
            let sdk = adapters_aws::sdk_config(&config).await;
            let pem = adapters_aws::read_secret_string(&sdk, &secret).await?;
            config.jwt_public_jwks = Some(shared::tokens::TokenKeys::public_jwks_of(&pem)?);
            config.jwt_private_key_pem = None;
            println!(
                "{}",
                serde_json::to_string_pretty(&local::sam_env(&config))?
            );
            Ok(())
        }
        Command::Provision => provision(config).await,
        Command::Serve => {
            let binaries = match (cli.lambda_dir, cli.lambda) {
                (Some(dir), _) => Some(dir),
                (None, true) => {
                    println!("building the function binaries ({})", cli.lambda_profile);
                    local::lambda::build(&cli.lambda_profile)?;
                    let folder = if cli.lambda_profile == "dev" {
                        "debug"
                    } else {
                        "release"
                    };
                    Some(local::lambda::target_dir(folder))
                }
                (None, false) => None,
            };
            if let Some(dir) = &binaries {
                println!(
                    "functions: their binaries in {}, one process each",
                    dir.display()
                );
            }
            let running = local::start_full(
                config,
                SocketAddr::new(cli.host, cli.port),
                true,
                &cli.base_paths,
                binaries.map(|dir| local::Binaries { dir, quiet: false }),
                |s| s,
            )
            .await?;
            // S3 (moto's) invokes nothing: uploads are handed over here.
            let _uploads = (running.state.config.backend == shared::config::Backend::Aws)
                .then(|| local::blobs::watch_uploads(running.state.clone()));
            let data = std::fs::canonicalize(&running.state.config.data_dir).unwrap_or_default();
            println!("listening on {}", running.url());
            for base in &cli.base_paths {
                println!("also under {}{}", running.url(), base.prefix());
            }
            println!("data in {}", data.display());
            match &running.sample_posts {
                Some(sample) => {
                    println!("posts feed: built-in sample upstream at {}", sample.url())
                }
                None => println!(
                    "posts feed: {}",
                    running
                        .state
                        .config
                        .posts_api_url
                        .as_deref()
                        .unwrap_or_default()
                ),
            }
            // Ctrl-C or SIGTERM (`kill`): stop, and with the server the
            // function processes of the binary mode (the runtime drops
            // them, and they are killed on drop) rather than orphan them.
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
            println!("stopping");
            drop(running);
            Ok(())
        }
    }
}

async fn make_admin(
    config: Config,
    email: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let state = edge::wiring::build(config).await?;
    let email = shared::domain::Email::parse(email).map_err(|m| format!("email {m}"))?;
    let mut user = state
        .users
        .find_by_email(&email)
        .await?
        .ok_or("no user with that email")?;
    user.role = shared::domain::Role::Admin;
    state
        .users
        .save(&user)
        .await?
        .ok_or("the user changed meanwhile; try again")?;
    println!("{email} is now an admin");
    Ok(())
}

async fn provision(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use adapters_aws::{self as aws, stacks};
    let endpoint = config
        .aws_endpoint_url
        .clone()
        .ok_or("set AWS_ENDPOINT_URL (for example moto's address)")?;
    let sdk = aws::sdk_config(&config).await;
    // The template's own data resources, by CloudFormation (moto's too).
    let origin = config
        .app_origin
        .clone()
        .unwrap_or_else(|| edge::testing::DEV_APP_ORIGIN.to_owned());
    let stack =
        stacks::create_data_stack(&sdk, "user-platform-local", &[("AppOrigin", &origin)]).await?;
    stacks::verify_sender(&sdk, &config.mail_from).await?;
    // The signing key, where the deployed signers read it from.
    let secret = stacks::put_secret(
        &sdk,
        "user-platform/local/jwt-private-key",
        &shared::tokens::generate_private_key_pem(),
    )
    .await?;
    eprintln!("stack user-platform-local and the signing key's secret created on {endpoint}");
    println!("export TABLE_NAME={}", stack.table);
    println!("export BUCKET_NAME={}", stack.bucket);
    println!("export QUEUE_URL={}", stack.queue_url);
    println!("export DEAD_LETTER_QUEUE_URL={}", stack.dead_letter_url);
    println!("export JWT_PRIVATE_KEY_SECRET={secret}");
    Ok(())
}
