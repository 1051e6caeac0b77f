namespace MegatronBridge.IO;

/// <summary>
/// The user's input cannot be used: a damaged or inconsistent file, a field with an impossible value, an unsupported
/// architecture or dtype, a bad option value. The message names the file and the tensor or field. Validation at every
/// layer throws this type and only this type; the command line reports it as the user's error (exit 1), while any
/// other exception (apart from the operating system's own I/O failures on a path) is reported as a bug.
/// </summary>
public sealed class InvalidInputException : Exception
{
    public InvalidInputException(string message) : base(message) { }

    public InvalidInputException(string message, Exception? inner) : base(message, inner) { }
}
