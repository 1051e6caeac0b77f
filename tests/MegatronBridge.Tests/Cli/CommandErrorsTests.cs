using MegatronBridge.Cli.Commands;
using MegatronBridge.IO;
using Xunit;

namespace MegatronBridge.Tests.Cli;

/// <summary>The one place that turns exceptions into messages and exit codes.</summary>
public class CommandErrorsTests
{
    [Fact]
    public void InputError_IsOneLineNamingTheCommand_WithExitCode1ByDefault()
    {
        var error = new StringWriter();
        int code = CommandErrors.Run("demo", error, () => throw new InvalidInputException("/data/model.safetensors: truncated header"));
        Assert.Equal(1, code);
        Assert.Equal("demo: /data/model.safetensors: truncated header" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public void InputError_UsesTheCommandsOwnExitCode_WhenGiven()
    {
        var error = new StringWriter();
        int code = CommandErrors.Run("demo", error, () => throw new FileNotFoundException("/data/ref.safetensors: not found"), inputErrorExitCode: 2);
        Assert.Equal(2, code);
        Assert.Equal("demo: /data/ref.safetensors: not found" + Environment.NewLine, error.ToString());
    }

    [Fact]
    public void Success_PassesTheBodysExitCodeThrough_AndWritesNothing()
    {
        var error = new StringWriter();
        Assert.Equal(1, CommandErrors.Run("demo", error, () => 1, inputErrorExitCode: 2));
        Assert.Equal("", error.ToString());
    }

    [Theory]
    [InlineData(typeof(NullReferenceException))]
    [InlineData(typeof(InvalidOperationException))]
    [InlineData(typeof(IndexOutOfRangeException))]
    public void Bug_GivesExit70AndTheStackTrace_WhateverTheInputErrorCode(Type exceptionType)
    {
        var error = new StringWriter();
        int code = CommandErrors.Run("demo", error, () => ThrowBug(exceptionType), inputErrorExitCode: 2);
        Assert.Equal(70, code);
        string text = error.ToString();
        Assert.StartsWith($"demo: internal error ({exceptionType.Name}): ", text);
        Assert.Contains("This is a bug in megatron-bridge", text);
        Assert.Contains(nameof(ThrowBug), text);
    }

    private static int ThrowBug(Type exceptionType) => throw (Exception)Activator.CreateInstance(exceptionType)!;
}
