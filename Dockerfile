# One image recipe for every service: docker build --build-arg SERVICE=Scheduler -t drover-scheduler .
# (SERVICE is Gateway, Scheduler or Processor; docker-compose.yml builds all three.)
#
# The base images are arguments, so that a machine without a registry can build on images of its own (the compose
# test does: a Debian root from debootstrap with the .NET runtime added). PUBLISHED names a folder of the build
# context that already holds `dotnet publish` output, one subfolder per service; with it nothing is built here.
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

FROM ${SDK_IMAGE} AS build
LABEL drover.image=build
ARG SERVICE
ARG PUBLISHED=
WORKDIR /src
COPY . .
RUN test -n "$SERVICE" || { echo "--build-arg SERVICE=Gateway|Scheduler|Processor is required" >&2; exit 1; }; \
    if [ -n "$PUBLISHED" ]; then cp -a "$PUBLISHED/$SERVICE" /app; \
    else dotnet publish "src/Drover.$SERVICE" -c Release -o /app; fi \
    && ln -s "Drover.$SERVICE.dll" /app/service.dll

FROM ${RUNTIME_IMAGE}
LABEL drover.image=service
WORKDIR /app
COPY --from=build /app .
# Not root: a Processor runs its jobs as this user. /data is where state lives (a volume in docker-compose.yml); a
# new volume takes this folder's owner.
RUN mkdir -p /data && chown 1654:1654 /data
USER 1654:1654
# Inside a container the service must listen beyond loopback, so the compose file gives it a token.
ENV ASPNETCORE_URLS=http://0.0.0.0:8080 HOME=/tmp
EXPOSE 8080
ENTRYPOINT ["dotnet", "service.dll"]
