//! `agent list|show|count|evict|ban|purge` and `token generate`.

use clap::{Args, Subcommand};
use lanyard_daemon::Duration;
use lanyard_daemon::output::json_line;
use lanyard_proto::spire::api::server::agent::v1::{
    BanAgentRequest, CountAgentsRequest, CreateJoinTokenRequest, DeleteAgentRequest,
    GetAgentRequest, ListAgentsRequest, agent_client::AgentClient, count_agents_request,
    list_agents_request,
};
use lanyard_proto::spire::api::types::{Agent, SelectorMatch};
use serde_json::json;
use tonic::metadata::MetadataValue;

use super::common::{
    CliError, CliResult, Out, OutputArg, SocketArg, now_unix, parse_selectors, parse_spiffe_id,
};
use super::filter::{MatchMode, selector_match_mode};
use super::{json, print};

/// gRPC metadata key carrying `-nodeAttribute` values to `CreateJoinToken`.
pub const NODE_ATTRIBUTE_METADATA: &str = "lanyard-node-attribute";

/// `agent` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Lists attested agents
    List(ListArgs),
    /// Shows the details of an attested agent
    Show(IdArgs),
    /// Counts attested agents
    Count(ListArgs),
    /// Evicts an agent: it must attest again
    Evict(IdArgs),
    /// Bans an agent until it is evicted
    Ban(IdArgs),
    /// Deletes agents whose SVID expired long ago
    Purge(PurgeArgs),
}

/// Filters of `agent list` and `agent count`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// A type:value node selector to match; repeat for more
    #[arg(long = "selector")]
    pub selectors: Vec<String>,
    /// How selectors match: exact, subset, superset or any
    #[arg(long = "matchSelectorsOn", value_enum, default_value_t = MatchMode::Superset)]
    pub match_selectors_on: MatchMode,
    /// Only agents attested with this attestor
    #[arg(long = "attestationType")]
    pub attestation_type: Option<String>,
    /// Only agents that can (true) or cannot (false) re-attest
    #[arg(long = "canReattest", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub can_reattest: Option<bool>,
    /// Only banned (true) or not banned (false) agents
    #[arg(long = "banned", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub banned: Option<bool>,
    /// Only agents whose SVID expires before this time (RFC 3339)
    #[arg(long = "expiresBefore")]
    pub expires_before: Option<String>,
    #[command(flatten)]
    pub output: OutputArg,
}

/// `-spiffeID` of one agent.
#[derive(Debug, Args)]
pub struct IdArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The SPIFFE ID of the agent
    #[arg(long = "spiffeID")]
    pub spiffe_id: String,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `agent purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// Purge agents whose SVID expired at least this long ago
    #[arg(long = "expiredFor", default_value = "720h")]
    pub expired_for: Duration,
    /// Only list what would be purged
    #[arg(long = "dryRun")]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArg,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Generates a join token
    Generate(TokenArgs),
}

/// Flags of `token generate`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// SPIFFE ID of a node alias entry created for the agent that uses the token
    #[arg(long = "spiffeID")]
    pub spiffe_id: Option<String>,
    /// Token lifetime in seconds
    #[arg(long = "ttl", default_value_t = 600)]
    pub ttl: i32,
    /// Expected node attribute (key=value) the agent using the token must present;
    /// repeat for more
    #[arg(long = "nodeAttribute", value_name = "KEY=VALUE")]
    pub node_attributes: Vec<String>,
    #[command(flatten)]
    pub output: OutputArg,
}

impl AgentCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        match self {
            Self::List(args) => list(args, out).await,
            Self::Count(args) => count(args, out).await,
            Self::Show(args) => show(args, out).await,
            Self::Evict(args) => evict(args, out).await,
            Self::Ban(args) => ban(args, out).await,
            Self::Purge(args) => purge(args, out).await,
        }
    }
}

impl ListArgs {
    fn filter(&self) -> Result<list_agents_request::Filter, CliError> {
        let by_selector_match = if self.selectors.is_empty() {
            None
        } else {
            Some(SelectorMatch {
                selectors: parse_selectors(&self.selectors)?,
                r#match: selector_match_mode(self.match_selectors_on) as i32,
            })
        };
        Ok(list_agents_request::Filter {
            by_attestation_type: self.attestation_type.clone().unwrap_or_default(),
            by_selector_match,
            by_banned: self.banned,
            by_can_reattest: self.can_reattest,
            by_expires_before: self.expires_before.clone().unwrap_or_default(),
        })
    }
}

async fn list_agents(
    client: &mut AgentClient<tonic::transport::Channel>,
    filter: list_agents_request::Filter,
) -> Result<Vec<Agent>, CliError> {
    let mut agents = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = client
            .list_agents(ListAgentsRequest {
                filter: Some(filter.clone()),
                output_mask: None,
                page_size: 1000,
                page_token,
            })
            .await
            .map_err(|s| CliError::rpc("error listing agents", &s))?
            .into_inner();
        agents.extend(response.agents);
        if response.next_page_token.is_empty() {
            return Ok(agents);
        }
        page_token = response.next_page_token;
    }
}

async fn list(args: ListArgs, out: Out<'_>) -> CliResult {
    let filter = args.filter()?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    let agents = list_agents(&mut client, filter).await?;

    if args.output.is_json() {
        let value = json!({
            "agents": agents.iter().map(json::agent).collect::<Vec<_>>(),
            "next_page_token": "",
        });
        out.write_all(json_line(&value).as_bytes())?;
        return Ok(());
    }
    write_agents(&agents, out)
}

/// `Found N attested agents:` and one block per agent.
pub(crate) fn write_agents(agents: &[Agent], out: Out<'_>) -> CliResult {
    if agents.is_empty() {
        writeln!(out, "No attested agents found")?;
        return Ok(());
    }
    let noun = if agents.len() == 1 { "agent" } else { "agents" };
    writeln!(out, "Found {} attested {noun}:\n", agents.len())?;
    for agent in agents {
        out.write_all(print::agent(agent, false).as_bytes())?;
    }
    Ok(())
}

async fn count(args: ListArgs, out: Out<'_>) -> CliResult {
    let filter = args.filter()?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    let count = client
        .count_agents(CountAgentsRequest {
            filter: Some(count_agents_request::Filter {
                by_attestation_type: filter.by_attestation_type,
                by_selector_match: filter.by_selector_match,
                by_banned: filter.by_banned,
                by_can_reattest: filter.by_can_reattest,
                by_expires_before: filter.by_expires_before,
            }),
        })
        .await
        .map_err(|s| CliError::rpc("error counting agents", &s))?
        .into_inner()
        .count;

    if args.output.is_json() {
        out.write_all(json_line(&json!({ "count": count })).as_bytes())?;
    } else {
        let noun = if count == 1 { "agent" } else { "agents" };
        writeln!(out, "{count} attested {noun}")?;
    }
    Ok(())
}

async fn show(args: IdArgs, out: Out<'_>) -> CliResult {
    let id = parse_spiffe_id("SPIFFE ID", &args.spiffe_id)?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    let agent = client
        .get_agent(GetAgentRequest {
            id: Some(id),
            output_mask: None,
        })
        .await
        .map_err(|s| CliError::rpc("error fetching the agent", &s))?
        .into_inner();

    if args.output.is_json() {
        out.write_all(json_line(&json::agent(&agent)).as_bytes())?;
    } else {
        writeln!(out, "Found an attested agent given its SPIFFE ID\n")?;
        out.write_all(print::agent(&agent, true).as_bytes())?;
    }
    Ok(())
}

async fn evict(args: IdArgs, out: Out<'_>) -> CliResult {
    let id = parse_spiffe_id("SPIFFE ID", &args.spiffe_id)?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    client
        .delete_agent(DeleteAgentRequest { id: Some(id) })
        .await
        .map_err(|s| CliError::rpc("error evicting the agent", &s))?;
    if args.output.is_json() {
        out.write_all(json_line(&json!({})).as_bytes())?;
    } else {
        writeln!(out, "Agent evicted successfully")?;
    }
    Ok(())
}

async fn ban(args: IdArgs, out: Out<'_>) -> CliResult {
    let id = parse_spiffe_id("SPIFFE ID", &args.spiffe_id)?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    client
        .ban_agent(BanAgentRequest { id: Some(id) })
        .await
        .map_err(|s| CliError::rpc("error banning the agent", &s))?;
    if args.output.is_json() {
        out.write_all(json_line(&json!({})).as_bytes())?;
    } else {
        writeln!(out, "Agent banned successfully")?;
    }
    Ok(())
}

async fn purge(args: PurgeArgs, out: Out<'_>) -> CliResult {
    let mut client = AgentClient::new(args.socket.connect().await?);
    let cutoff =
        now_unix().saturating_sub(i64::try_from(args.expired_for.as_secs()).unwrap_or(i64::MAX));
    let expired: Vec<Agent> = list_agents(&mut client, list_agents_request::Filter::default())
        .await?
        .into_iter()
        .filter(|a| !a.banned && a.x509svid_expires_at != 0 && a.x509svid_expires_at < cutoff)
        .collect();

    let mut purged = Vec::new();
    let mut failures = Vec::new();
    if !args.dry_run {
        for agent in &expired {
            match client
                .delete_agent(DeleteAgentRequest {
                    id: agent.id.clone(),
                })
                .await
            {
                Ok(_) => purged.push(agent),
                Err(status) => failures.push((agent, status)),
            }
        }
    }

    if args.output.is_json() {
        let ids = |agents: &[&Agent]| -> Vec<serde_json::Value> {
            agents
                .iter()
                .map(|a| json::spiffe_id(a.id.as_ref()))
                .collect()
        };
        let listed: Vec<&Agent> = if args.dry_run {
            expired.iter().collect()
        } else {
            purged
        };
        out.write_all(json_line(&json!({ "expired_agents": ids(&listed) })).as_bytes())?;
    } else if expired.is_empty() {
        writeln!(out, "No agents to purge.")?;
    } else if args.dry_run {
        writeln!(out, "Found {} expired agents\n", expired.len())?;
        for agent in &expired {
            out.write_all(print::agent(agent, false).as_bytes())?;
        }
    } else {
        writeln!(
            out,
            "Purged {} of {} expired agents",
            purged.len(),
            expired.len()
        )?;
    }

    if let Some((agent, status)) = failures.first() {
        let id = super::common::spiffe_id_to_string(agent.id.as_ref());
        return Err(CliError::rpc(&format!("error purging agent {id}"), status));
    }
    Ok(())
}

impl TokenCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let Self::Generate(args) = self;
        generate_token(args, out).await
    }
}

impl TokenArgs {
    /// The request and its metadata: `-nodeAttribute` values travel as
    /// [`NODE_ATTRIBUTE_METADATA`] entries.
    pub fn request(&self) -> Result<tonic::Request<CreateJoinTokenRequest>, CliError> {
        if self.ttl <= 0 {
            return Err(CliError::msg("-ttl must be greater than 0"));
        }
        let agent_id = self
            .spiffe_id
            .as_deref()
            .map(|id| parse_spiffe_id("SPIFFE ID", id))
            .transpose()?;

        let mut request = tonic::Request::new(CreateJoinTokenRequest {
            ttl: self.ttl,
            token: String::new(),
            agent_id,
        });
        for attribute in &self.node_attributes {
            let valid = attribute
                .split_once('=')
                .is_some_and(|(key, value)| !key.is_empty() && !value.is_empty());
            if !valid {
                return Err(CliError(format!(
                    "node attribute {attribute:?} must be formatted as key=value"
                )));
            }
            let value = MetadataValue::try_from(attribute.as_str()).map_err(|_| {
                CliError(format!(
                    "node attribute {attribute:?} must be printable ASCII"
                ))
            })?;
            request
                .metadata_mut()
                .append(NODE_ATTRIBUTE_METADATA, value);
        }
        Ok(request)
    }
}

async fn generate_token(args: TokenArgs, out: Out<'_>) -> CliResult {
    let request = args.request()?;
    let mut client = AgentClient::new(args.socket.connect().await?);
    let token = client
        .create_join_token(request)
        .await
        .map_err(|s| CliError::rpc("error generating a join token", &s))?
        .into_inner();

    if args.output.is_json() {
        out.write_all(json_line(&json::join_token(&token)).as_bytes())?;
    } else {
        writeln!(out, "Token: {}", token.value)?;
    }
    Ok(())
}
