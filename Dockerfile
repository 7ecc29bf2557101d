# One image recipe for every service: docker build --build-arg SERVICE=Scheduler -t drover-scheduler .
# (SERVICE is Gateway, Scheduler or Processor.)
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG SERVICE
WORKDIR /src
COPY . .
RUN dotnet publish src/Drover.${SERVICE} -c Release -o /app && ln -s Drover.${SERVICE}.dll /app/service.dll

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app .
# Inside a container the service must listen beyond loopback, so the compose file gives it a token.
ENV ASPNETCORE_URLS=http://0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["dotnet", "service.dll"]
