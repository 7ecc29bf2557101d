namespace Drover.NodeConformance;

// The same conformance tests, once per kind of node. A new kind of node needs only a fixture and one line here;
// any node at all can be checked without code through DROVER_NODE_URL and DROVER_NODE_TOKEN.

/// <summary>The C# Processor (src/Drover.Processor).</summary>
public sealed class ProcessorConformance(ProcessorNode node) : NodeProtocolTests<ProcessorNode>(node);

/// <summary>The shell node (nodes/shell) under busybox httpd.</summary>
public sealed class ShellNodeConformance(ShellNode node) : NodeProtocolTests<ShellNode>(node);

/// <summary>The node named by DROVER_NODE_URL; every test is skipped, with that reason, when it is not set.</summary>
public sealed class ExternalNodeConformance(ExternalNode node) : NodeProtocolTests<ExternalNode>(node);
